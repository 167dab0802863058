/**
 * `gpt2 test`: llm.c's `test_gpt2` for any model size. Loads an llm.c checkpoint and debug state, compares the
 * logits, the loss and every parameter gradient of one forward/backward pass with the state's, then runs 10 AdamW
 * steps on the same batch and prints their losses (optionally compared with an expected list). Exit 0 only when
 * everything is within tolerance.
 *
 * @module
 */
import type { Command } from "./_command.ts";
import { type CommandSpec, helpText, parseFlags, requireInt } from "../util/flags.ts";
import { UsageError } from "../util/errors.ts";
import { readCheckpoint } from "../model/checkpoint.ts";
import { readDebugState } from "../model/debug_state.ts";
import { createCpuModel } from "../model/cpu_model.ts";
import { createModel, parseDeviceChoice, parsePrecisionChoice } from "../model/backends.ts";
import type { GPT2 } from "../model/gpt2.ts";
import { CpuKernels } from "../cpu/kernels.ts";
import { PARAMETER_NAMES } from "../model/tensors.ts";
import {
  LOSS_TOLERANCE,
  LOSSES_TOLERANCE,
  maxAbsDiff,
  maxAbsDiffPadded,
  PARITY_ADAMW,
  PARITY_STEPS,
  PARITY_TOLERANCES,
  TENSOR_TOLERANCE,
} from "../model/parity.ts";
import { readExpectedLosses, TestReport } from "./_test_report.ts";

/** `--threads` at most: 4 per core, and never more than 256 (each thread is a Worker). */
const MAX_THREADS = Math.min(4 * navigator.hardwareConcurrency, 256);

const SPEC: CommandSpec = {
  usage: "gpt2 test --model M.bin --state S.bin [options]",
  description: [
    "Checks this implementation against an llm.c model and debug state (as llm.c's test_gpt2 does, for any size):",
    `logits and every gradient within ${TENSOR_TOLERANCE} max abs, loss within ${LOSS_TOLERANCE}; then 10 AdamW`,
    "steps on the same batch (lr 1e-4, betas 0.9/0.999, eps 1e-8, weight decay 0.01), printed as `step N: loss X`.",
    `With --losses, each step's loss must be within ${LOSSES_TOLERANCE} of the file's. Exits 0 only if all pass.`,
    `--precision f16 (f16 weights for the matmuls) allows ${PARITY_TOLERANCES.f16.tensor} on the tensors and ` +
    `${PARITY_TOLERANCES.f16.losses} on the losses.`,
  ].join("\n"),
  flags: [
    { name: "model", short: "m", kind: "string", help: "llm.c checkpoint, version 3 (fp32) or 5 (bf16)" },
    { name: "state", short: "s", kind: "string", help: "llm.c debug state (magic 20240327) for that model" },
    { name: "losses", kind: "string", help: "JSON file with `losses`: the 10 expected step losses" },
    { name: "device", kind: "string", default: "auto", help: "auto | gpu | cpu" },
    {
      name: "precision",
      kind: "string",
      default: "fp32",
      help: "fp32 | f16 (the matmuls read an f16 copy of the weights; f16 tolerances) | auto",
    },
    {
      name: "threads",
      kind: "int",
      help: `CPU threads for the WebAssembly kernels, 1 to min(4 × cores, 256) = ${MAX_THREADS} ` +
        "(default: one per core)",
    },
    { name: "reference", kind: "bool", help: "use only the scalar reference layers (no WebAssembly kernels)" },
    { name: "json", kind: "bool", help: "JSON lines on stdout: one per check and per step, then an end event" },
  ],
};

/** The `test` subcommand. */
export const test: Command = {
  name: "test",
  summary: "check the model against an llm.c debug state (llm.c's test_gpt2)",
  run,
};

async function run(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, SPEC);
  if (flags.help) {
    console.log(helpText(SPEC));
    return 0;
  }
  if (flags.positionals.length > 0) {
    throw new UsageError(`Unexpected argument '${flags.positionals[0]}'; see 'gpt2 test --help'`);
  }
  const modelPath = flags.values.model as string | undefined;
  const statePath = flags.values.state as string | undefined;
  if (!modelPath || !statePath) throw new UsageError("--model and --state are required; see 'gpt2 test --help'");
  const device = parseDeviceChoice(flags.values.device as string);
  const precisionChoice = parsePrecisionChoice(flags.values.precision as string);
  const reference = flags.values.reference === true;
  const threads = flags.values.threads === undefined
    ? navigator.hardwareConcurrency
    : requireInt("--threads", flags.values.threads, 1);
  if (threads > MAX_THREADS) {
    throw new UsageError(
      `--threads: at most ${MAX_THREADS} (4 × ${navigator.hardwareConcurrency} cores, capped at 256), got ${threads}`,
    );
  }
  const report = new TestReport(flags.values.json === true);
  const lossesPath = flags.values.losses as string | undefined;
  const expectedLosses = lossesPath ? await readExpectedLosses(lossesPath, PARITY_STEPS) : undefined;

  const checkpoint = await readCheckpoint(modelPath);
  const cfg = checkpoint.config;
  const state = await readDebugState(statePath, cfg);
  const { B, T } = state;
  report.info(
    `model: ${modelPath} (version ${checkpoint.version}, L=${cfg.numLayers} NH=${cfg.numHeads} C=${cfg.channels} ` +
      `V=${cfg.vocabSize} Vp=${cfg.paddedVocabSize} maxT=${cfg.maxSeqLen})`,
  );
  let engine = reference ? "scalar reference layers" : `WebAssembly kernels on ${threads} threads`;
  // deno-lint-ignore no-explicit-any
  let model: GPT2<any, any>;
  const cpuOnlyFlags = reference || flags.values.threads !== undefined;
  if (device === "gpu" && cpuOnlyFlags) throw new UsageError("--reference and --threads apply to --device cpu only");
  if (device === "cpu" || cpuOnlyFlags) {
    model = await createCpuModel(cfg, B, T, {
      kernels: reference ? undefined : (memory) => CpuKernels.create(memory, threads),
      precision: precisionChoice === "f16" ? "f16" : "fp32", // auto: fp32 on the CPU
    });
  } else {
    const placed = await createModel(cfg, B, T, device, { precision: precisionChoice });
    model = placed.model;
    engine = placed.description;
  }
  const tolerances = PARITY_TOLERANCES[model.precision];
  report.info(`state: ${statePath} (B=${B}, T=${T}), device: ${engine}, precision: ${model.precision}`);
  try {
    for (const name of PARAMETER_NAMES) model.writeParameter(name, checkpoint.params[name]);
    const check = report.check.bind(report);
    const losses: number[] = [];
    for (let step = 0; step < PARITY_STEPS; step++) {
      model.forward(state.inputs, state.targets);
      const loss = await model.meanLoss();
      // Read before backward, which overwrites the logits with their gradient.
      const logits = step === 0 ? await model.readLogits() : undefined;
      model.zeroGrad();
      model.backward();
      if (logits) {
        check(
          "logits",
          maxAbsDiffPadded(logits, state.logits, { V: cfg.vocabSize, Vp: cfg.paddedVocabSize }),
          tolerances.tensor,
        );
        check("loss", Math.abs(loss - state.loss), tolerances.loss, { got: loss, expected: state.loss });
        const grads = await model.readGradients();
        for (const name of PARAMETER_NAMES) {
          check(`grad ${name}`, maxAbsDiff(grads[name], state.grads[name]), tolerances.tensor);
        }
      }
      await model.update({ ...PARITY_ADAMW, step: step + 1 });
      losses.push(loss);
      report.step(step, loss);
    }
    if (expectedLosses) {
      check("losses", maxAbsDiff(losses, expectedLosses), tolerances.losses);
    }
    const okText = `OK: logits, loss and all ${PARAMETER_NAMES.length} gradients within tolerance` +
      (expectedLosses ? `, and the ${PARITY_STEPS} step losses` : "");
    return report.finish(okText, { model: modelPath, state: statePath, device: engine }) ? 0 : 1;
  } finally {
    model.close();
  }
}
