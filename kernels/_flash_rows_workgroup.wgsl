// _flash_rows_workgroup: the row-group reductions of flash_attention_forward.wgsl through workgroup memory (the form
// for devices without subgroups; kernels/_flash_rows_subgroup.wgsl is its twin). Thread lid = TX·g + x belongs to row
// group g; `red` (one vec4 per thread) is the kernel's. Each call writes red, waits on a barrier, then reads it: the
// caller must pass another barrier before the next call writes red again.

// The lane-wise max (take_max) or sum (in thread order) of v over the TX threads of lid's row group, for each of them.
fn row_reduce(lid: u32, v: vec4f, take_max: bool) -> vec4f {
  red[lid] = v;
  workgroupBarrier();
  let g = TX * (lid / TX);
  var r = red[g];
  for (var i = 1u; i < TX; i++) {
    let x = red[g + i];
    r = select(r + x, max(r, x), take_max);
  }
  return r;
}

fn row_max(lid: u32, v: vec4f) -> vec4f {
  return row_reduce(lid, v, true);
}

fn row_sum(lid: u32, v: vec4f) -> vec4f {
  return row_reduce(lid, v, false);
}
