// _flash_rows_subgroup: the row-group reductions of flash_attention_forward.wgsl with subgroup shuffles (the twin of
// kernels/_flash_rows_workgroup.wgsl, used where the device has `subgroups`). Each quad of lanes (4k … 4k+3, which
// are threads 4k … 4k+3 of the workgroup: subgroups are consecutive invocations, and a row group of TX threads, TX a
// multiple of 4, is TX/4 whole quads) combines its values with two shuffles, so workgroup memory carries TX/4
// partials per row group instead of TX. Only quads are assumed, so any subgroup size from 4 up works the same way
// (SwiftShader's 4, NVIDIA's 32) for every TX. Each call writes red, waits on a barrier, then reads it: the caller
// must pass another barrier before the next call writes red again.

// The lane-wise max of v over the TX threads of lid's row group, for every one of them.
fn row_max(lid: u32, v: vec4f) -> vec4f {
  var m = max(v, subgroupShuffleXor(v, 1u));
  m = max(m, subgroupShuffleXor(m, 2u));
  red[lid] = m;
  workgroupBarrier();
  let g = TX * (lid / TX);
  var r = red[g];
  for (var i = 4u; i < TX; i += 4u) {
    r = max(r, red[g + i]);
  }
  return r;
}

// The lane-wise sum of v over the TX threads of lid's row group (pairs, then quads, then the quads in order), for
// every one of them.
fn row_sum(lid: u32, v: vec4f) -> vec4f {
  var s = v + subgroupShuffleXor(v, 1u);
  s += subgroupShuffleXor(s, 2u);
  red[lid] = s;
  workgroupBarrier();
  let g = TX * (lid / TX);
  var r = red[g];
  for (var i = 4u; i < TX; i += 4u) {
    r += red[g + i];
  }
  return r;
}
