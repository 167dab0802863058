/**
 * The tokenizing Worker's side of {@linkcode TokenPool} (`_token_pool.ts`), and the one function both sides run:
 * documents -> EOT + tokens for each. The pool starts its Workers on `_token_pool.ts` itself, which imports this
 * module; evaluated in a Worker named {@linkcode TOKEN_WORKER_NAME}, this module installs the message handler.
 * (As with the CPU kernels, this keeps one code path for a checkout, a URL import, the single-file bundle and
 * `deno compile`: no second file to ship or `--include`.) Private to `prepro/`.
 *
 * @module
 */
import { GPT2_EOT } from "../model/config.ts";
import { encodeOrdinaryInto } from "./_bpe.ts";
import { pythonStrip } from "./_python.ts";

/** The `name` of tokenizing Workers; a Worker of another name is left alone. */
export const TOKEN_WORKER_NAME = "llmts-prepro-tokens";

/** A job: documents to tokenize, and whether to strip each with Python's `str.strip()` first. */
export interface TokenJob {
  /** The pool's job number, echoed in the reply. */
  id: number;
  /** The documents, in order. */
  texts: string[];
  /** Strip Python whitespace from both ends of each document first (TinyStories does). */
  strip: boolean;
}

/** A Worker's answer: the tokens of a job, or why it failed. */
export type TokenReply = { id: number; tokens: Uint16Array } | { id: number; error: string };

/**
 * Tokenizes documents the way llm.c's prepro scripts do: for each, EOT (50256) and then its ordinary-text tokens
 * (a literal `<|endoftext|>` inside a document is text).
 *
 * @param texts The documents.
 * @param strip Apply Python's `str.strip()` to each first.
 * @returns All tokens, in document order.
 * @example
 * ```ts
 * import { tokenizeTexts } from "./_token_worker.ts";
 * console.log(tokenizeTexts([" Hi\u001f", "Bye"], true)); // Uint16Array(4) [50256, 17250, 50256, 3886]
 * ```
 */
export function tokenizeTexts(texts: string[], strip: boolean): Uint16Array<ArrayBuffer> {
  const ids: number[] = [];
  for (const text of texts) {
    ids.push(GPT2_EOT);
    encodeOrdinaryInto(strip ? pythonStrip(text) : text, ids);
  }
  return Uint16Array.from(ids);
}

interface WorkerScope {
  name: string;
  onmessage: ((e: MessageEvent<TokenJob>) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
}

function inTokenWorker(): boolean {
  const scope = (globalThis as { WorkerGlobalScope?: abstract new () => unknown }).WorkerGlobalScope;
  return scope !== undefined && globalThis instanceof scope &&
    (globalThis as unknown as WorkerScope).name === TOKEN_WORKER_NAME;
}

if (inTokenWorker()) {
  const self = globalThis as unknown as WorkerScope;
  self.onmessage = (e) => {
    const { id, texts, strip } = e.data;
    try {
      const tokens = tokenizeTexts(texts, strip);
      self.postMessage({ id, tokens } satisfies TokenReply, [tokens.buffer]);
    } catch (err) {
      self.postMessage({ id, error: err instanceof Error ? err.message : String(err) } satisfies TokenReply);
    }
  };
}
