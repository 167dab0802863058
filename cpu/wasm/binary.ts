/**
 * The module level of the WebAssembly encoder: sections (type, import, function, memory, export, code) around the
 * function bodies built with {@link Fn}, and the relaxed-SIMD probe.
 *
 * @module
 */
import { Fn, uleb, V128, type ValType } from "./encoder.ts";

function name(out: number[], s: string): void {
  const bytes = new TextEncoder().encode(s);
  uleb(out, bytes.length);
  out.push(...bytes);
}

/**
 * A module: memory 0 imported as ("env", "memory"), a shared memory of up to 4 GiB; optionally memory 1, the
 * module's own (per instance, not shared) of `privatePages` pages; a list of exported functions.
 */
export class ModuleBuilder {
  readonly fns: Fn[] = [];
  /** Pages of the private memory 1 (0: none). */
  privatePages = 0;

  /** Adds a function (exported under its name) and returns its index for `call`. */
  add(fn: Fn): number {
    this.fns.push(fn);
    return this.fns.length - 1;
  }

  /** The binary module. Imports a shared memory of up to 65536 pages (4 GiB) as "env" "memory". */
  bytes(): Uint8Array<ArrayBuffer> {
    const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    const section = (id: number, body: number[]) => {
      out.push(id);
      uleb(out, body.length);
      for (let i = 0; i < body.length; i++) out.push(body[i]);
    };
    // Types, deduplicated by signature.
    const typeKeys: string[] = [];
    const typeOf = this.fns.map((f) => {
      const key = `${f.params.join(",")}:${f.results.join(",")}`;
      let idx = typeKeys.indexOf(key);
      if (idx < 0) idx = typeKeys.push(key) - 1;
      return idx;
    });
    const types: number[] = [];
    uleb(types, typeKeys.length);
    for (const key of typeKeys) {
      const [p, r] = key.split(":").map((s) => s === "" ? [] : s.split(",").map(Number));
      types.push(0x60);
      uleb(types, p.length);
      types.push(...p);
      uleb(types, r.length);
      types.push(...r);
    }
    section(1, types);
    const imports: number[] = [1];
    name(imports, "env");
    name(imports, "memory");
    imports.push(0x02, 0x03); // memory, limits: shared with maximum
    uleb(imports, 0);
    uleb(imports, 65536);
    section(2, imports);
    const funcs: number[] = [];
    uleb(funcs, this.fns.length);
    for (const t of typeOf) uleb(funcs, t);
    section(3, funcs);
    if (this.privatePages > 0) {
      const mems: number[] = [1, 0x01]; // one memory, limits with maximum
      uleb(mems, this.privatePages);
      uleb(mems, this.privatePages);
      section(5, mems);
    }
    const exports: number[] = [];
    uleb(exports, this.fns.length);
    this.fns.forEach((f, i) => {
      name(exports, f.name);
      exports.push(0x00);
      uleb(exports, i);
    });
    section(7, exports);
    const code: number[] = [];
    uleb(code, this.fns.length);
    for (const f of this.fns) {
      const body: number[] = [];
      // Locals run-length encoded by type.
      const runs: [number, ValType][] = [];
      for (const t of f.locals) {
        if (runs.length && runs[runs.length - 1][1] === t) runs[runs.length - 1][0]++;
        else runs.push([1, t]);
      }
      uleb(body, runs.length);
      for (const [n, t] of runs) {
        uleb(body, n);
        body.push(t);
      }
      for (let i = 0; i < f.code.length; i++) body.push(f.code[i]);
      body.push(0x0b);
      uleb(code, body.length);
      for (let i = 0; i < body.length; i++) code.push(body[i]);
    }
    section(10, code);
    return new Uint8Array(out);
  }
}

/** Whether this engine accepts relaxed SIMD (`f32x4.relaxed_madd`); probed once by validating a tiny module. */
export function hasRelaxedSimd(): boolean {
  const m = new ModuleBuilder();
  const f = new Fn("probe", [V128, V128, V128], [V128]);
  f.get(0).get(1).get(2).f32x4RelaxedMadd();
  m.add(f);
  return WebAssembly.validate(m.bytes());
}
