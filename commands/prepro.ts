import type { Command } from "./_command.ts";
/** Placeholder until the prepro command lands. */
export const prepro: Command = {
  name: "prepro",
  summary: "tokenize a dataset into llm.c token files",
  run: () => Promise.resolve(1),
};
