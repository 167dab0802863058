// _column: the in-workgroup stage of a column sum on a WX × WY workgroup (threads (x, y) hold partial sums of
// column x over rows y, y + WY, …), shared by colsum_partial and layernorm_param_partial (appended to their sources
// where their descriptors are made). Every thread passes its partial sum; row y = 0 gets the column's total, adding
// y = 1 … WY-1 in order (a fixed order: results are reproducible); other threads get their own value back. The call
// ends on a barrier, so it may be called again at once.

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
