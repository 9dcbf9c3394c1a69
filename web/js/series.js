// One metric series of one job in memory: a downsampled history plus live points appended in place.

/** Keep at most `buckets` groups of each run's minimum, maximum and last point, so no spike vanishes. */
export function decimate(steps, values, times, buckets) {
  const n = steps.length;
  if (n <= buckets * 3) return { steps, values, times };
  const keep = [];
  const size = n / buckets;
  for (let b = 0; b < buckets; b += 1) {
    const lo = Math.floor(b * size);
    const hi = Math.min(n, Math.floor((b + 1) * size));
    if (hi <= lo) continue;
    let iMin = lo;
    let iMax = lo;
    for (let i = lo; i < hi; i += 1) {
      if (values[i] !== null && (values[iMin] === null || values[i] < values[iMin])) iMin = i;
      if (values[i] !== null && (values[iMax] === null || values[i] > values[iMax])) iMax = i;
    }
    for (const i of [...new Set([iMin, iMax, hi - 1])].sort((a, c) => a - c)) keep.push(i);
  }
  return {
    steps: keep.map((i) => steps[i]),
    values: keep.map((i) => values[i]),
    times: keep.map((i) => times[i]),
  };
}

/**
 * TensorBoard's debiased exponential moving average, continued from `state` so live points
 * cost O(new points). Non-finite values pass through unsmoothed.
 */
export function smoothInto(out, values, from, weight, state) {
  for (let i = from; i < values.length; i += 1) {
    const v = values[i];
    if (v === null || !Number.isFinite(v)) {
      out[i] = v;
      continue;
    }
    state.last = state.last * weight + (1 - weight) * v;
    state.count += 1;
    const debias = weight === 1 ? 1 : 1 - weight ** state.count;
    out[i] = state.last / debias;
  }
  return out;
}

export class Series {
  /** job: job id; name: metric name; budget: how many points to keep drawn before re-decimating. */
  constructor(job, name, budget) {
    this.job = Number(job);
    this.name = name;
    this.budget = budget;
    this.steps = [];
    this.values = [];
    this.times = [];
    this.totalPoints = 0;
    this.version = 0; // bumps whenever existing points change, so caches recompute from scratch
    this.smoothed = { weight: -1, version: -1, out: [], state: null };
  }

  /** Take the body of GET /jobs/{id}/metrics/{name}. */
  load(body) {
    this.steps = body.steps.slice();
    this.values = body.values.slice();
    this.times = body.times.slice();
    this.totalPoints = body.total_points ?? body.steps.length;
    this.version += 1;
  }

  get lastStep() {
    return this.steps.length ? this.steps[this.steps.length - 1] : -Infinity;
  }

  get last() {
    const n = this.steps.length;
    return n ? { step: this.steps[n - 1], value: this.values[n - 1] } : null;
  }

  /** Append live points newer than the newest one held; returns how many were taken. */
  append(points) {
    let taken = 0;
    for (const p of points) {
      if (p.step <= this.lastStep) continue; // a repeat from an overlapping history fetch
      this.steps.push(p.step);
      this.values.push(p.value);
      this.times.push(p.time);
      if (this.coarse) for (const key of ["steps", "values", "times"]) this.coarse[key].push(p[key.slice(0, -1)]);
      taken += 1;
    }
    this.totalPoints += taken;
    if (this.steps.length > this.budget * 2) this.compact();
    return taken;
  }

  /** Whether the server holds more points than are drawn (zooming in then asks for detail). */
  get downsampled() {
    return this.totalPoints > this.steps.length;
  }

  /** Show full-detail points (a series route body) between steps lo and hi, the overview elsewhere. */
  zoomTo(body, lo, hi) {
    this.coarse ||= { steps: this.steps, values: this.values, times: this.times };
    const c = this.coarse;
    const pick = (keep) => {
      const idx = c.steps.map((s, i) => (keep(s) ? i : -1)).filter((i) => i >= 0);
      const take = (arr) => idx.map((i) => arr[i]);
      return { steps: take(c.steps), values: take(c.values), times: take(c.times) };
    };
    const before = pick((s) => s < lo);
    const after = pick((s) => s > hi);
    const inside = body.steps.map((s, i) => i).filter((i) => body.steps[i] >= lo && body.steps[i] <= hi);
    this.steps = [...before.steps, ...inside.map((i) => body.steps[i]), ...after.steps];
    this.values = [...before.values, ...inside.map((i) => body.values[i]), ...after.values];
    this.times = [...before.times, ...inside.map((i) => body.times[i]), ...after.times];
    this.version += 1;
  }

  /** Back to the overview after a zoom reset. */
  unzoom() {
    if (!this.coarse) return;
    Object.assign(this, this.coarse);
    this.coarse = null;
    this.version += 1;
  }

  // Long live runs would grow without bound; fold them back to the drawing budget.
  compact() {
    const d = decimate(this.steps, this.values, this.times, Math.ceil(this.budget / 3));
    Object.assign(this, d);
    this.version += 1;
  }

  /** The smoothed values for a weight in [0, 1). */
  smooth(weight) {
    const c = this.smoothed;
    if (weight <= 0) return this.values;
    if (c.weight !== weight || c.version !== this.version) {
      Object.assign(c, { weight, version: this.version, out: [], state: { last: 0, count: 0 } });
    }
    smoothInto(c.out, this.values, c.out.length, weight, c.state);
    return c.out;
  }
}
