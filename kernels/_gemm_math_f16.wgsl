// _gemm_math_f16: the tiled matmul's arithmetic in native f16 (shader-f16; the source starts with `enable f16;`,
// added in gpu/_gemm.ts): A and B are rounded to halves as they are staged, each k's products are accumulated in
// f16 (vec4h fma: two packed half FMAs each, twice float32's rate on NVIDIA) into a Run of 16 vec4h, and every
// F16_RUN K steps (F16_RUN · BK products) the run is added into the float32 Acc and cleared: short f16 sums added
// into float32, as the mixed-precision recipe allows when it is measured to be faster. A run's error is at most
// about (F16_RUN · BK + 2) · 2^-11 of its Σ|a·b| (each input and each partial sum rounded once).

alias frag4 = vec4h;

// F16_RUN (iterations per run), STAGE_NEAREST (staging rounded by _half_bits.wgsl, nearest even, instead of the
// GPU's own conversion; values already halves convert exactly either way) are overrides declared in matmul.wgsl.

// c + a·b in f16, each lane, fused (a multiply and an add ran the same: BENCHMARKS.md, f16 weights, stop 23).
fn mad4(a: f16, b: vec4h, c: vec4h) -> vec4h {
  return fma(vec4h(a), b, c);
}

fn stage4(v: vec4f) -> frag4 {
  if (STAGE_NEAREST) {
    // Halves already, so the conversion below is exact whatever its rounding (naga has no u32 → vec2h bitcast).
    let lo = unpack2x16float(pack_halves(v.x, v.y));
    let hi = unpack2x16float(pack_halves(v.z, v.w));
    return vec4h(vec4f(lo, hi));
  }
  return vec4h(v);
}

struct Run {
  r0a: vec4h,
  r0b: vec4h,
  r1a: vec4h,
  r1b: vec4h,
  r2a: vec4h,
  r2b: vec4h,
  r3a: vec4h,
  r3b: vec4h,
  r4a: vec4h,
  r4b: vec4h,
  r5a: vec4h,
  r5b: vec4h,
  r6a: vec4h,
  r6b: vec4h,
  r7a: vec4h,
  r7b: vec4h,
}

// acc += run in float32; run = 0.
fn flush(acc: ptr<function, Acc>, run: ptr<function, Run>) {
  (*acc).r0a += vec4f((*run).r0a);
  (*acc).r0b += vec4f((*run).r0b);
  (*acc).r1a += vec4f((*run).r1a);
  (*acc).r1b += vec4f((*run).r1b);
  (*acc).r2a += vec4f((*run).r2a);
  (*acc).r2b += vec4f((*run).r2b);
  (*acc).r3a += vec4f((*run).r3a);
  (*acc).r3b += vec4f((*run).r3b);
  (*acc).r4a += vec4f((*run).r4a);
  (*acc).r4b += vec4f((*run).r4b);
  (*acc).r5a += vec4f((*run).r5a);
  (*acc).r5b += vec4f((*run).r5b);
  (*acc).r6a += vec4f((*run).r6a);
  (*acc).r6b += vec4f((*run).r6b);
  (*acc).r7a += vec4f((*run).r7a);
  (*acc).r7b += vec4f((*run).r7b);
  *run = Run();
}

// The float32 total once the last run is in.
fn total(acc: ptr<function, Acc>, run: ptr<function, Run>) -> Acc {
  flush(acc, run);
  return *acc;
}
