/**
 * Float64 scratch rows for the CPU layers' reductions (column sums, per-batch gradient accumulators). One buffer per
 * slot, grown on first use and reused afterwards, so no step allocates once the sizes have been seen.
 *
 * @module
 */

const slots: Float64Array[] = [new Float64Array(0), new Float64Array(0)];

/**
 * A zero-filled Float64Array of exactly `n` elements, valid until the next call with the same slot.
 *
 * @param slot Which scratch buffer (0 or 1), so one function can hold two at once.
 * @param n Number of elements.
 * @returns A view of `n` zeros.
 */
export function zeroedScratch(slot: 0 | 1, n: number): Float64Array {
  if (slots[slot].length < n) slots[slot] = new Float64Array(n);
  const view = slots[slot].subarray(0, n);
  view.fill(0);
  return view;
}
