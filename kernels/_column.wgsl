// _column: the in-workgroup stage of a column sum on a WX × WY workgroup (threads (x, y) hold partial sums of
// column x over rows y, y + WY, …), shared by colsum_partial and layernorm_param_partial (appended to their sources
// where their descriptors are made). Every thread passes its partial sum; row y = 0 gets the column's total, adding
// y = 1 … WY-1 in order (a fixed order: results are reproducible); other threads get their own value back. The call
// ends on a barrier, so it may be called again at once.

override WX: u32 = 64;
override WY: u32 = 4;

// A thread's share of a chunked column sum over `rows` rows: column c = workgroup_id.x·WX + x, and the rows
// first, first + WY, … below last of chunk workgroup_id.y (rows_per_chunk rows each).
struct ColumnShare {
  c: u32,
  first: u32,
  last: u32,
}

fn column_share(lid: vec3u, wid: vec3u, rows: u32, rows_per_chunk: u32) -> ColumnShare {
  let first = wid.y * rows_per_chunk;
  return ColumnShare(wid.x * WX + lid.x, first + lid.y, min(rows, first + rows_per_chunk));
}

var<workgroup> column_part: array<f32, WX * WY>;

fn column_total(lid: vec3u, value: f32) -> f32 {
  column_part[lid.y * WX + lid.x] = value;
  workgroupBarrier();
  var total = value;
  if (lid.y == 0u) {
    for (var y = 1u; y < WY; y++) {
      total += column_part[y * WX + lid.x];
    }
  }
  workgroupBarrier();
  return total;
}
