/**
 * Every WGSL kernel follows the conventions in gpu/kernel.ts. `wgslKernel` reads each descriptor from its source and
 * refuses one whose bindings or `Params` bases are out of order; this test checks the rest on the source: one entry
 * point named like the file, a header comment with the thread mapping, binding 0 the `Params` uniform, every file in
 * kernels/ used by a production descriptor, and each compiling without errors or warnings on this adapter.
 */
import { fileURLToPath } from "node:url";
import { getGpuDevice } from "../../gpu/device.ts";
import { KERNELS } from "../../gpu/kernel.ts";
import "../../model/gpt2.ts"; // imports every training layer, whose kernels register themselves in KERNELS
import "../../model/decoder.ts"; // and generation's (layers/sample.ts)
import { adapterAvailable } from "./_helpers.ts";

const ALL_KERNELS = [...KERNELS.values()];

const dir = fileURLToPath(new URL("../../kernels/", import.meta.url));

Deno.test("kernels: every kernels/*.wgsl has a descriptor, named like the file, with the same source", async () => {
  const files = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".wgsl") && !n.startsWith("_"));
  const names = new Set(ALL_KERNELS.map((k) => k.name));
  for (const file of files) if (!names.has(file.slice(0, -5))) throw new Error(`${file} has no descriptor`);
  for (const k of ALL_KERNELS) {
    const text = await Deno.readTextFile(`${dir}${k.name}.wgsl`);
    // A kernel's source is its file, optionally followed by shared declarations from kernels/_*.wgsl.
    if (!k.source.startsWith(text)) throw new Error(`${k.name}: descriptor source is not kernels/${k.name}.wgsl`);
  }
});

for (const k of ALL_KERNELS) {
  Deno.test(`kernels: ${k.name}.wgsl follows the conventions`, () => {
    const src = k.source;
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

Deno.test({
  name: "kernels: every kernel compiles on this adapter without errors or warnings",
  ignore: !adapterAvailable,
  fn: async () => {
    const { device } = await getGpuDevice();
    for (const k of ALL_KERNELS) {
      const info = await device.createShaderModule({ code: k.source }).getCompilationInfo();
      const messages = info.messages.map((m) => `${k.name}.wgsl:${m.lineNum}: ${m.type}: ${m.message}`);
      if (messages.length > 0) throw new Error(messages.join("\n"));
    }
  },
});
