// _reduce: the workgroup tree reductions shared by the row kernels, appended to their sources where their
// descriptors are made (WGSL declarations may come in any order). The including kernel declares `override WG: u32`
// (a power of two) and runs WG threads per workgroup; every thread passes its value, local_invocation_index `lid`,
// and all of them get the workgroup's total. Each call ends on a barrier, so the next call may reuse `red` at once.
// The tree adds (or maxes) lid with lid + s for s = WG/2, WG/4, …, 1: a fixed order, so results are reproducible.

var<workgroup> red: array<f32, WG>;

fn workgroup_sum(lid: u32, value: f32) -> f32 {
  red[lid] = value;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      red[lid] += red[lid + s];
    }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier();
  return total;
}

fn workgroup_max(lid: u32, value: f32) -> f32 {
  red[lid] = value;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      red[lid] = max(red[lid], red[lid + s]);
    }
    workgroupBarrier();
  }
  let total = red[0];
  workgroupBarrier();
  return total;
}
