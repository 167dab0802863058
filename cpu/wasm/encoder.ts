/**
 * A small WebAssembly binary encoder for emitting the CPU kernels from TypeScript at run time, with no external
 * toolchain: LEB128 integers, value types, and function bodies with the instructions the kernels use (i32, f32,
 * f64 and v128 arithmetic, relaxed SIMD multiply-add, memory access to memory 0 or 1, structured control flow).
 * Modules are assembled around the bodies in `binary.ts`.
 *
 * A body is written as a stack-machine instruction stream through {@link Fn}'s methods, which return `this` so
 * that an expression reads left to right: `f.get(p).get(k).i32Add().v128Load()` pushes the v128 at p + k.
 *
 * @module
 */

/** Value types (their binary codes). */
export const I32 = 0x7f;
/** 32-bit float. */
export const F32 = 0x7d;
/** 64-bit float. */
export const F64 = 0x7c;
/** 128-bit vector. */
export const V128 = 0x7b;
/** A value type code. */
export type ValType = typeof I32 | typeof F32 | typeof F64 | typeof V128;

/** Appends `v` (an unsigned integer below 2^32) as unsigned LEB128. */
export function uleb(out: number[], v: number): void {
  v >>>= 0;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
}

/** Appends `v` (a 32-bit signed integer) as signed LEB128. */
export function sleb(out: number[], v: number): void {
  v |= 0;
  for (;;) {
    const byte = v & 0x7f;
    v >>= 7;
    if ((v === 0 && (byte & 0x40) === 0) || (v === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return;
    }
    out.push(byte | 0x80);
  }
}

/** A branch target made by {@link Fn.block}, {@link Fn.loop} or {@link Fn.if}; valid inside its body. */
export interface Label {
  readonly depth: number;
}

const SIMD = 0xfd;
const f32Bytes = new Uint8Array(4);
const f32View = new DataView(f32Bytes.buffer);

/**
 * One function body under construction. Locals are numbered after the parameters; `local(type)` adds one.
 * Memory offsets (`offset`) are added to the address on the stack as the memarg immediate (unsigned, bytes).
 */
export class Fn {
  readonly code: number[] = [];
  readonly locals: ValType[] = [];
  #depth = 0;

  /**
   * @param name Export name.
   * @param params Parameter types; parameter i is local i.
   * @param results Result types (empty or one).
   */
  constructor(readonly name: string, readonly params: ValType[], readonly results: ValType[]) {}

  /** Adds a local of `type` and returns its index. */
  local(type: ValType): number {
    this.locals.push(type);
    return this.params.length + this.locals.length - 1;
  }

  /** Raw bytes. */
  op(...bytes: number[]): this {
    this.code.push(...bytes);
    return this;
  }

  #simd(op: number): this {
    this.code.push(SIMD);
    uleb(this.code, op);
    return this;
  }

  // memarg: alignment (log2), then the memory index if not 0 (multi-memory: flag 0x40), then the offset.
  #mem(op: number, offset: number, align: number, mem: number, simd = false): this {
    if (simd) this.#simd(op);
    else this.code.push(op);
    if (mem === 0) uleb(this.code, align);
    else {
      uleb(this.code, align | 0x40);
      uleb(this.code, mem);
    }
    uleb(this.code, offset);
    return this;
  }

  // ---- structured control flow: body callbacks receive their label ----
  #structured(op: number, body: (l: Label) => void, orElse?: () => void): this {
    this.code.push(op, 0x40); // empty block type
    const label = { depth: ++this.#depth };
    body(label);
    if (orElse) {
      this.code.push(0x05);
      orElse();
    }
    this.code.push(0x0b);
    this.#depth--;
    return this;
  }
  /** `block … end`; a branch to its label jumps past the end. */
  block(body: (l: Label) => void): this {
    return this.#structured(0x02, body);
  }
  /** `loop … end`; a branch to its label jumps back to the start. */
  loop(body: (l: Label) => void): this {
    return this.#structured(0x03, body);
  }
  /** Pops an i32; runs `then` if non-zero, else `orElse`. */
  if(then: (l: Label) => void, orElse?: () => void): this {
    return this.#structured(0x04, then, orElse);
  }
  /** Unconditional branch to `l`. */
  br(l: Label): this {
    this.code.push(0x0c);
    uleb(this.code, this.#depth - l.depth);
    return this;
  }
  /** Pops an i32; branches to `l` if non-zero. */
  brIf(l: Label): this {
    this.code.push(0x0d);
    uleb(this.code, this.#depth - l.depth);
    return this;
  }
  /** Calls function number `index`. */
  call(index: number): this {
    this.code.push(0x10);
    uleb(this.code, index);
    return this;
  }
  /** Returns from the function. */
  ret(): this {
    return this.op(0x0f);
  }
  /** Pops three values (a, b, cond); pushes cond ? a : b. */
  select(): this {
    return this.op(0x1b);
  }
  /** Discards the top of the stack. */
  drop(): this {
    return this.op(0x1a);
  }

  // ---- locals and constants ----
  /** Pushes local `i`. */
  get(i: number): this {
    this.code.push(0x20);
    uleb(this.code, i);
    return this;
  }
  /** Pops into local `i`. */
  set(i: number): this {
    this.code.push(0x21);
    uleb(this.code, i);
    return this;
  }
  /** Stores the top of the stack into local `i`, keeping it. */
  tee(i: number): this {
    this.code.push(0x22);
    uleb(this.code, i);
    return this;
  }
  /** Pushes an i32 constant. */
  i32(v: number): this {
    this.code.push(0x41);
    sleb(this.code, v);
    return this;
  }
  /** Pushes an f32 constant (rounded to float32). */
  f32(v: number): this {
    f32View.setFloat32(0, v, true);
    return this.op(0x43, ...f32Bytes);
  }
  /** Pushes a v128 whose four f32 lanes all equal `v`. */
  f32x4Const(v: number): this {
    f32View.setFloat32(0, v, true);
    this.#simd(0x0c);
    for (let i = 0; i < 4; i++) this.code.push(...f32Bytes);
    return this;
  }
  /** Pushes a v128 whose four i32 lanes all equal `v`. */
  i32x4Const(v: number): this {
    f32View.setInt32(0, v, true);
    this.#simd(0x0c);
    for (let i = 0; i < 4; i++) this.code.push(...f32Bytes);
    return this;
  }

  // ---- i32 ----
  i32Add(): this {
    return this.op(0x6a);
  }
  i32Sub(): this {
    return this.op(0x6b);
  }
  i32Mul(): this {
    return this.op(0x6c);
  }
  /** Unsigned division. */
  i32DivU(): this {
    return this.op(0x6e);
  }
  i32And(): this {
    return this.op(0x71);
  }
  i32Shl(): this {
    return this.op(0x74);
  }
  i32Eqz(): this {
    return this.op(0x45);
  }
  i32Eq(): this {
    return this.op(0x46);
  }
  i32Ne(): this {
    return this.op(0x47);
  }
  /** Signed less-than. */
  i32LtS(): this {
    return this.op(0x48);
  }
  /** Unsigned less-than (addresses). */
  i32LtU(): this {
    return this.op(0x49);
  }
  i32GtS(): this {
    return this.op(0x4a);
  }
  i32LeS(): this {
    return this.op(0x4c);
  }
  i32GeS(): this {
    return this.op(0x4e);
  }
  /** Pushes local `i` + `v`, then stores it back into `i` (an increment as one statement). */
  inc(i: number, v: number): this {
    return this.get(i).i32(v).i32Add().set(i);
  }
  /** Pushes local `i` + local `j`, stores into `i`. */
  incBy(i: number, j: number): this {
    return this.get(i).get(j).i32Add().set(i);
  }

  // ---- f32 ----
  /** Pops an address, pushes the f32 at address + offset in memory `mem`. */
  f32Load(offset = 0, mem = 0): this {
    return this.#mem(0x2a, offset, 2, mem);
  }
  /** Pops an address and a value, stores the f32 at address + offset in memory `mem`. */
  f32Store(offset = 0, mem = 0): this {
    return this.#mem(0x38, offset, 2, mem);
  }
  f32Add(): this {
    return this.op(0x92);
  }
  f32Sub(): this {
    return this.op(0x93);
  }
  f32Mul(): this {
    return this.op(0x94);
  }
  f32Div(): this {
    return this.op(0x95);
  }
  f32Max(): this {
    return this.op(0x97);
  }
  f32Sqrt(): this {
    return this.op(0x91);
  }
  f32Gt(): this {
    return this.op(0x5e);
  }
  f32Lt(): this {
    return this.op(0x5d);
  }
  f32Eq(): this {
    return this.op(0x5b);
  }

  // ---- f64 ----
  f64Add(): this {
    return this.op(0xa0);
  }
  /** f32 -> f64. */
  f64PromoteF32(): this {
    return this.op(0xbb);
  }
  /** f64 -> f32 (rounded to nearest). */
  f32DemoteF64(): this {
    return this.op(0xb6);
  }

  // ---- v128 / f32x4 / f64x2 / i32x4 ----
  v128Load(offset = 0, mem = 0): this {
    return this.#mem(0x00, offset, 4, mem, true);
  }
  v128Store(offset = 0, mem = 0): this {
    return this.#mem(0x0b, offset, 4, mem, true);
  }
  /** Loads one f32 and splats it to four lanes. */
  load32Splat(offset = 0, mem = 0): this {
    return this.#mem(0x09, offset, 2, mem, true);
  }
  f32x4Splat(): this {
    return this.#simd(0x13);
  }
  f32x4ExtractLane(lane: number): this {
    return this.#simd(0x1f).op(lane);
  }
  f32x4Add(): this {
    return this.#simd(0xe4);
  }
  f32x4Sub(): this {
    return this.#simd(0xe5);
  }
  f32x4Mul(): this {
    return this.#simd(0xe6);
  }
  f32x4Div(): this {
    return this.#simd(0xe7);
  }
  f32x4Sqrt(): this {
    return this.#simd(0xe3);
  }
  /** Lanes 0 and 1 of an f32x4, widened to an f64x2. */
  f64x2PromoteLow(): this {
    return this.#simd(0x5f);
  }
  f64x2Add(): this {
    return this.#simd(0xf0);
  }
  f64x2ExtractLane(lane: number): this {
    return this.#simd(0x21).op(lane);
  }
  f32x4Max(): this {
    return this.#simd(0xe9);
  }
  f32x4Min(): this {
    return this.#simd(0xe8);
  }
  f32x4Floor(): this {
    return this.#simd(0x68);
  }
  /** Lane-wise a < b, all-ones mask where true. */
  f32x4Lt(): this {
    return this.#simd(0x43);
  }
  /** Lane-wise a >= b, all-ones mask where true. */
  f32x4Ge(): this {
    return this.#simd(0x46);
  }
  /** i8x16.shuffle of the two vectors on the stack by 32-bit lanes: lanes 0-3 of the first, 4-7 of the second. */
  shuffle32(lanes: [number, number, number, number]): this {
    this.#simd(0x0d);
    for (const l of lanes) this.code.push(4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3);
    return this;
  }
  v128And(): this {
    return this.#simd(0x4e);
  }
  i32x4Add(): this {
    return this.#simd(0xae);
  }
  /** Shifts every i32 lane left by the i32 on top of the stack. */
  i32x4Shl(): this {
    return this.#simd(0xab);
  }
  i32x4TruncSatF32x4S(): this {
    return this.#simd(0xf8);
  }
  /** Relaxed SIMD `f32x4.relaxed_madd`: a * b + c, fused or not as the hardware prefers (stack: a, b, c). */
  f32x4RelaxedMadd(): this {
    return this.#simd(0x105);
  }
}
