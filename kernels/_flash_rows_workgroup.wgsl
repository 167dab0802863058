// _flash_rows_workgroup: the row-group reductions of flash_attention_forward.wgsl through workgroup memory (the form
// for devices without subgroups; kernels/_flash_rows_subgroup.wgsl is its twin). Thread lid = 16g + x belongs to row
// group g; `red` (one vec4 per thread) is the kernel's. Each call writes red, waits on a barrier, then reads it: the
// caller must pass another barrier before the next call writes red again.

// The lane-wise max of v over the 16 threads of lid's row group, for every one of them.
fn row_max(lid: u32, v: vec4f) -> vec4f {
  red[lid] = v;
  workgroupBarrier();
  let g = 16u * (lid / 16u);
  var m = red[g];
  for (var i = 1u; i < 16u; i++) {
    m = max(m, red[g + i]);
  }
  return m;
}

// The lane-wise sum of v over the 16 threads of lid's row group (in thread order), for every one of them.
fn row_sum(lid: u32, v: vec4f) -> vec4f {
  red[lid] = v;
  workgroupBarrier();
  let g = 16u * (lid / 16u);
  var s = red[g];
  for (var i = 1u; i < 16u; i++) {
    s += red[g + i];
  }
  return s;
}
