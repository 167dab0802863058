// _reduce: the workgroup tree reductions and the row kernels' thread, shared by the kernels that reduce within a
// workgroup, appended to their sources where their descriptors are made (WGSL declarations may come in any order).
// The including kernel declares `override WG: u32` (a power of two) and runs WG threads per workgroup; every thread
// passes its value and its local_invocation_index `lid`, and all of them get the workgroup's total. Each call ends
// on a barrier, so the next call may reuse `red` at once. The tree adds (or maxes) lid with lid + s for s = WG/2,
// WG/4, …, 1: a fixed order, so results are reproducible.

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

// A row kernel's workgroup: one per row, on a 2-D grid because N may exceed the 65535 workgroups of one dimension
// (the launcher's gridRows): row = workgroup_id.x + workgroup_id.y · num_workgroups.x. Only workgroup-uniform
// builtins (the thread's local_invocation_index is its own parameter): Tint's uniformity analysis (Chromium) treats
// a struct holding it as non-uniform as a whole, and rejects the barriers in loops over the row.
struct RowThread {
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
}

fn row_of(t: RowThread) -> u32 {
  return t.wid.x + t.wid.y * t.nwg.x;
}
