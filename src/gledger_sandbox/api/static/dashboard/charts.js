// Charts as inline SVG, drawn from numbers: a line over time, bars by category, and daily
// inflow/outflow bars with the net as a line. Sized by viewBox, so they fill their card.

import {s} from "./dom.js";

const W = 760;
const H = 260;
const PAD = {left: 64, right: 16, top: 16, bottom: 36};

function scale(min, max, from, to) {
  const span = max - min || 1;
  return (value) => from + ((value - min) / span) * (to - from);
}

function frame(title) {
  return s("svg", {viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": title},
    s("title", {}, title));
}

function yAxis(svg, min, max, y, format) {
  // The extremes and zero: the line every bar stands on is labelled as what it is.
  for (const value of new Set([min, 0, max])) {
    const at = y(value);
    svg.append(
      s("line", {x1: PAD.left, x2: W - PAD.right, y1: at, y2: at, class: "grid"}),
      s("text", {x: PAD.left - 6, y: at + 4, class: "axis", "text-anchor": "end"}, format(value)),
    );
  }
}

/** A line of `points` ({label, value}) in order, e.g. a balance day by day. */
export function lineChart(points, title, format) {
  const svg = frame(title);
  if (!points.length) return svg;
  const values = points.map((p) => p.value);
  const min = Math.min(0, ...values);
  const max = Math.max(0, ...values);
  const x = scale(0, Math.max(points.length - 1, 1), PAD.left, W - PAD.right);
  const y = scale(min, max, H - PAD.bottom, PAD.top);
  yAxis(svg, min, max, y, format);
  const path = points.map((p, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(p.value).toFixed(1)}`);
  svg.append(s("path", {d: path.join(" "), class: "line"}));
  points.forEach((p, i) => {
    svg.append(s("circle", {cx: x(i), cy: y(p.value), r: 3, class: "dot"},
      s("title", {}, `${p.label}: ${format(p.value)}`)));
  });
  const step = Math.ceil(points.length / 8);
  points.forEach((p, i) => {
    if (i % step === 0 || i === points.length - 1) {
      svg.append(s("text", {x: x(i), y: H - 12, class: "axis", "text-anchor": "middle"}, p.label));
    }
  });
  return svg;
}

/** One bar per category ({label, value, kind}); negative values hang below zero. */
export function barChart(bars, title, format) {
  const svg = frame(title);
  const values = bars.map((b) => b.value);
  const min = Math.min(0, ...values);
  const max = Math.max(0, ...values);
  const y = scale(min, max, H - PAD.bottom, PAD.top);
  yAxis(svg, min, max, y, format);
  const slot = (W - PAD.left - PAD.right) / Math.max(bars.length, 1);
  bars.forEach((bar, i) => {
    const top = y(Math.max(bar.value, 0));
    const height = Math.abs(y(bar.value) - y(0));
    const left = PAD.left + i * slot + slot * 0.2;
    svg.append(
      s("rect", {x: left, y: top, width: slot * 0.6, height: Math.max(height, 1),
        class: `bar ${bar.kind || ""}`}, s("title", {}, `${bar.label}: ${format(bar.value)}`)),
      s("text", {x: left + slot * 0.3, y: H - 12, class: "axis", "text-anchor": "middle"},
        bar.label),
      s("text", {x: left + slot * 0.3, y: top - 4, class: "value", "text-anchor": "middle"},
        format(bar.value)),
    );
  });
  return svg;
}

/** Daily inflow (up) and outflow (down) bars, and the day's net as a line. */
export function flowChart(buckets, title, format) {
  const svg = frame(title);
  if (!buckets.length) return svg;
  const max = Math.max(1, ...buckets.map((b) => Math.max(b.inflow, Math.abs(b.net))));
  const min = -Math.max(1, ...buckets.map((b) => Math.max(b.outflow, Math.abs(b.net))));
  const y = scale(min, max, H - PAD.bottom, PAD.top);
  yAxis(svg, min, max, y, format);
  const slot = (W - PAD.left - PAD.right) / buckets.length;
  const net = [];
  buckets.forEach((bucket, i) => {
    const left = PAD.left + i * slot + slot * 0.15;
    const width = Math.max(slot * 0.7, 1);
    svg.append(
      s("rect", {x: left, y: y(bucket.inflow), width, height: y(0) - y(bucket.inflow),
        class: "bar inflow"}, s("title", {}, `${bucket.day} inflow ${format(bucket.inflow)}`)),
      s("rect", {x: left, y: y(0), width, height: y(-bucket.outflow) - y(0),
        class: "bar outflow"}, s("title", {}, `${bucket.day} outflow ${format(bucket.outflow)}`)),
    );
    net.push(`${i ? "L" : "M"}${(left + width / 2).toFixed(1)},${y(bucket.net).toFixed(1)}`);
  });
  svg.append(s("path", {d: net.join(" "), class: "line net"}));
  const step = Math.ceil(buckets.length / 8);
  buckets.forEach((bucket, i) => {
    if (i % step === 0) {
      svg.append(s("text", {x: PAD.left + (i + 0.5) * slot, y: H - 12, class: "axis",
        "text-anchor": "middle"}, bucket.day.slice(5)));
    }
  });
  return svg;
}
