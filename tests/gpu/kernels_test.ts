/**
 * Every WGSL kernel follows the conventions in gpu/kernel.ts. `wgslKernel` reads each descriptor from its source and
 * refuses one whose bindings or `Params` bases are out of order; this test checks the rest on the source: one entry
 * point named like the file, a header comment with the thread mapping, binding 0 the `Params` uniform, every file in
 * kernels/ used by a production descriptor, and each compiling without errors or warnings on this adapter. The f16
 * forms (native f16 arithmetic, `enable f16;`), which adapters without `shader-f16` (llvmpipe) cannot compile, are
 * validated by naga itself (wgpu's shader compiler, as WebAssembly) and compiled on GPUs that have the feature.
 */
import { fileURLToPath } from "node:url";
import { getGpuDevice } from "../../gpu/device.ts";
import { KERNELS } from "../../gpu/kernel.ts";
import "../../model/gpt2.ts"; // imports every training layer, whose kernels register themselves in KERNELS
import "../../layers/f16_copy.ts"; // an f16 model's parameter writes
import "../../model/decoder.ts"; // and generation's (layers/sample.ts)
import { adapterAvailable } from "./_helpers.ts";
import { parseWgsl, validate } from "naga-wasm";

const ALL_KERNELS = [...KERNELS.values()];

const dir = fileURLToPath(new URL("../../kernels/", import.meta.url));

/** A kernel's source without the `enable f16;` line its f16 form starts with. */
function withoutEnable(source: string): string {
  return source.replace(/^enable f16;\n/, "");
}

Deno.test("kernels: every kernels/*.wgsl has a descriptor, named like the file, with the same source", async () => {
  const files = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".wgsl") && !n.startsWith("_"));
  const names = new Set(ALL_KERNELS.map((k) => k.name));
  for (const file of files) if (!names.has(file.slice(0, -5))) throw new Error(`${file} has no descriptor`);
  for (const k of ALL_KERNELS) {
    const text = await Deno.readTextFile(`${dir}${k.name}.wgsl`);
    // A kernel's source is its file (after an `enable f16;` line for the f16 forms), optionally followed by shared
    // declarations from kernels/_*.wgsl.
    if (!withoutEnable(k.source).startsWith(text)) {
      throw new Error(`${k.name}: descriptor source is not kernels/${k.name}.wgsl`);
    }
  }
});

for (const k of ALL_KERNELS) {
  const form = [k.variant, k.subgroups ? "subgroup form" : undefined].filter(Boolean).join(", ");
  Deno.test(`kernels: ${k.name}.wgsl${form ? ` (${form})` : ""} follows the conventions`, () => {
    const src = withoutEnable(k.source);
    if (k.f16 !== (src !== k.source)) throw new Error("the f16 flag does not match the source's `enable f16;`");
    if (!src.startsWith(`// ${k.name}: `)) throw new Error("missing the header comment '// name: what it computes'");
    if (!/\/\/ (Threads|.*Dispatch)/.test(src)) throw new Error("the header does not describe the thread mapping");
    const entries = [...src.matchAll(/@compute[^]*?fn (\w+)\s*\(/g)].map((m) => m[1]);
    if (entries.length !== 1 || entries[0] !== k.name) throw new Error(`entry points ${entries}, want ${k.name}`);
    const struct = /struct Params \{([^}]*)\}/.exec(src);
    if (!struct) throw new Error("no struct Params");
    const fields = [...struct[1].matchAll(/(\w+):\s*(\w+)/g)].map((m) => `${m[1]}:${m[2]}`);
    const want = [
      ...k.storage.map((s) => `${s.name}_base:u32`),
      ...Object.entries(k.params).map(([name, type]) => `${name}:${type}`),
    ];
    if (fields.join(",") !== want.join(",")) throw new Error(`Params {${fields}} != descriptor {${want}}`);
    if (!src.includes("@group(0) @binding(0) var<uniform> p: Params;")) throw new Error("binding 0 is not p: Params");
    k.storage.forEach((s, i) => {
      const decl = `@group(0) @binding(${i + 1}) var<storage, ${s.access}> ${s.name}: array<`;
      if (!src.includes(decl)) throw new Error(`missing '${decl}'`);
    });
    if (src.includes(`@binding(${k.storage.length + 1})`)) throw new Error("more bindings than the descriptor lists");
  });
}

Deno.test("kernels: each subgroup form has a workgroup-memory twin of the same name and bindings", () => {
  const forms = ALL_KERNELS.filter((k) => k.subgroups);
  if (forms.length === 0) throw new Error("no subgroup forms registered");
  for (const k of forms) {
    const twin = KERNELS.get(k.name);
    if (!twin || twin.subgroups) throw new Error(`${k.name}: no workgroup-memory twin`);
    const shape = (d: typeof k) => JSON.stringify([d.storage, d.params, d.overrides]);
    if (shape(twin) !== shape(k)) throw new Error(`${k.name}: the twins' bindings, params or overrides differ`);
  }
});

Deno.test({
  name: "kernels: every kernel this adapter can run compiles without errors or warnings (subgroup forms where granted)",
  ignore: !adapterAvailable,
  fn: async () => {
    const { device, hasF16, hasSubgroups, subgroupPreamble } = await getGpuDevice();
    for (const k of ALL_KERNELS) {
      if (k.subgroups && !hasSubgroups) continue; // compiled by tests/browser and on GPUs that grant subgroups
      if (k.f16 && !hasF16) continue; // validated by naga below; compiled on GPUs with shader-f16
      const code = k.subgroups ? subgroupPreamble + k.source : k.source;
      const info = await device.createShaderModule({ code }).getCompilationInfo();
      const messages = info.messages.map((m) => `${k.name}.wgsl:${m.lineNum}: ${m.type}: ${m.message}`);
      if (messages.length > 0) throw new Error(messages.join("\n"));
    }
  },
});

Deno.test("kernels: the f16 forms are valid WGSL for naga (which wgpu, and so Deno, compiles them with)", () => {
  const forms = ALL_KERNELS.filter((k) => k.f16);
  if (forms.length === 0) throw new Error("no f16 forms registered");
  for (const k of forms) {
    try {
      using module = parseWgsl(k.source);
      using _info = validate(module);
    } catch (err) {
      const report = (err as { formatted?: string }).formatted ?? String(err);
      throw new Error(`${k.name} (${k.variant}): ${report}`);
    }
  }
});

/**
 * An f16 form's float32 shadow: the same source with `f16` for `f32` throughout (vec4h → vec4f …), so adapters without
 * `shader-f16` can build its pipeline. Its overrides, declarations and control flow are the f16 form's own.
 */
function float32Shadow(source: string): string {
  return withoutEnable(source).replace(/\bvec([234])h\b/g, "vec$1f").replace(/\bf16\b/g, "f32");
}

Deno.test({
  name: "kernels: the f16 forms' pipelines specialize their overrides (built from float32 shadows on this adapter)",
  ignore: !adapterAvailable,
  fn: async () => {
    // Building a pipeline is where naga specializes overrides, and Deno 2.9.6's naga (29) panicked there on the f16
    // matmul, whose two f16 overrides were then declared in _gemm_math_f16.wgsl (stop 23 on the H200; its shadow
    // panicked here on llvmpipe too). Shader modules alone (the test above) do not get that far.
    const { device } = await getGpuDevice();
    const forms = ALL_KERNELS.filter((k) => k.f16);
    if (forms.length === 0) throw new Error("no f16 forms registered");
    for (const k of forms) {
      device.pushErrorScope("validation");
      const module = device.createShaderModule({ code: float32Shadow(k.source) });
      // BK = 8 where the matmul has it (as on CPU adapters: a quarter of BK = 16's compile time on llvmpipe).
      const constants: Record<string, number> = "BK" in k.overrides ? { BK: 8 } : {};
      device.createComputePipeline({ layout: "auto", compute: { module, entryPoint: k.name, constants } });
      const error = await device.popErrorScope();
      if (error) throw new Error(`${k.name} (${k.variant}), float32 shadow: ${error.message}`);
    }
  },
});
