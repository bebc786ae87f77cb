// Numbers for people: rates with k/M, sparkline points.

export function formatRate(value, unit) {
  if (!value) return `0 ${unit}`;
  if (value >= 1e6) return `${(value / 1e6).toFixed(1)} M${unit}`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)} k${unit}`;
  return `${value.toFixed(value < 10 ? 1 : 0)} ${unit}`;
}

// polyline points of `values` (newest last) in a width x height box, scaled to their maximum
export function sparkline(values, width, height) {
  if (!values.length) return "";
  const top = Math.max(...values, 1);
  const x0 = width - values.length;
  return values.map((v, i) => `${x0 + i},${(height - 1 - (v / top) * (height - 2)).toFixed(1)}`).join(" ");
}
