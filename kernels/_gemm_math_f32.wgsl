// _gemm_math_f32: the tiled matmul's arithmetic in float32 (see matmul.wgsl): staged tiles and register fragments
// are vec4f, and the multiply accumulates straight into the output block, so a Run is the Acc itself and there is
// nothing to flush. Appended in gpu/_gemm.ts (or _gemm_math_f16.wgsl instead).

alias frag4 = vec4f;
alias Run = Acc;

// c + a·b, each lane (fused).
fn mad4(a: f32, b: vec4f, c: vec4f) -> vec4f {
  return fma(vec4f(a), b, c);
}

// Staged values are stored as they are.
fn stage4(v: vec4f) -> frag4 {
  return v;
}

// Float32 math keeps one set of accumulators: the run is the total.
fn flush(acc: ptr<function, Acc>, run: ptr<function, Run>) {}

fn total(acc: ptr<function, Acc>, run: ptr<function, Run>) -> Acc {
  return *run;
}
