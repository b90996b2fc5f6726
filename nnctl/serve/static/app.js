// The page of `nnctl serve`: draw a digit; the canvas goes as a PNG to POST /predict, whose
// answer (prediction, the image the network sees, the first layer's response) is shown. Every
// number comes from the server: nnctl's preprocessing is never copied here.
"use strict";

const LINE_WIDTH = 22; // pixels of the 280 of the canvas: a digit that fills the box gets
                       // strokes about as thick, for its size, as MNIST's
const PAUSE_MS = 60; // between two requests while drawing
const NOTHING = "Nothing drawn yet: draw a digit in the box.";

const canvas = document.getElementById("canvas");
const pen = canvas.getContext("2d");
const prediction = document.getElementById("prediction");
const seen = document.getElementById("seen");
const units = document.getElementById("units");

const strokes = []; // each a list of [x, y] points in canvas pixels
let drawing = null; // the stroke being drawn
let pointer = null; // the id of the pointer drawing it
let version = 0; // of the drawing, +1 on every change
let sent = 0; // the version last sent
let busy = false;
let model = null; // GET /model
const cells = new Map(); // unit -> its picture and caption on the page, made once

// ---------------------------------------------------------------- drawing

function paint() {
  pen.fillStyle = "#fff";
  pen.fillRect(0, 0, canvas.width, canvas.height);
  Object.assign(pen, { strokeStyle: "#000", lineWidth: LINE_WIDTH, lineCap: "round",
                       lineJoin: "round" });
  for (const stroke of strokes) {
    pen.beginPath();
    pen.moveTo(...stroke[0]);
    for (const point of stroke.slice(1)) pen.lineTo(...point);
    if (stroke.length === 1) pen.lineTo(stroke[0][0] + 0.1, stroke[0][1]); // a dot
    pen.stroke();
  }
}

function at(event) {
  const box = canvas.getBoundingClientRect();
  return [(event.clientX - box.left) * canvas.width / box.width,
          (event.clientY - box.top) * canvas.height / box.height];
}

canvas.addEventListener("pointerdown", (event) => {
  if (drawing !== null || event.button > 0) return; // one pointer at a time, main button
  event.preventDefault();
  canvas.setPointerCapture(event.pointerId);
  pointer = event.pointerId;
  drawing = [at(event)];
  strokes.push(drawing);
  changed();
});

canvas.addEventListener("pointermove", (event) => {
  if (drawing === null || event.pointerId !== pointer) return;
  const moves = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
  for (const move of moves.length ? moves : [event]) drawing.push(at(move));
  changed();
});

function endStroke(event) {
  if (event.pointerId === pointer) {
    drawing = null;
    pointer = null;
  }
}
canvas.addEventListener("pointerup", endStroke);
canvas.addEventListener("pointercancel", endStroke);

function undo() {
  if (strokes.length === 0) return;
  strokes.pop();
  drawing = null;
  changed();
}

function clear() {
  strokes.length = 0;
  drawing = null;
  changed();
}

document.getElementById("undo").addEventListener("click", undo);
document.getElementById("clear").addEventListener("click", clear);
document.addEventListener("keydown", (event) => {
  if ((event.ctrlKey || event.metaKey) && event.key === "z") {
    event.preventDefault();
    undo();
  }
});

function changed() {
  version += 1;
  paint();
  if (strokes.length === 0) showNothing();
  else ask();
}

// ---------------------------------------------------------------- asking the server

async function ask() {
  if (busy || sent === version || strokes.length === 0) return;
  busy = true;
  const asked = (sent = version);
  prediction.dataset.state = "waiting";
  try {
    const png = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
    const response = await fetch("/predict?name=canvas.png&explain=1", {
      method: "POST", headers: { "Content-Type": "image/png" }, body: png });
    const answer = await response.json();
    if (strokes.length > 0) {
      if (response.ok) show(answer);
      else showProblem(answer.error);
    }
  } catch (error) {
    showProblem(`no answer from the server (${error.message}): is nnctl serve still running?`);
  } finally {
    busy = false;
    if (sent !== version) setTimeout(ask, PAUSE_MS);
    else if (strokes.length > 0 && asked === version && prediction.dataset.state === "waiting") {
      prediction.dataset.state = "ready";
    }
  }
}

// ---------------------------------------------------------------- showing the answer

function element(tag, className, text) {
  const made = document.createElement(tag);
  if (className) made.className = className;
  if (text !== undefined) made.textContent = text;
  return made;
}

function percent(p) {
  return p === null ? "?" : `${(100 * p).toFixed(1)}%`;
}

function show(answer) {
  const top = [{ digit: answer.prediction, probability: answer.probability },
               ...answer.candidates];
  prediction.replaceChildren(...top.map((candidate, rank) => {
    const row = element("div", rank === 0 ? "candidate best" : "candidate");
    const bar = element("span", "bar");
    const fill = element("span", "fill");
    fill.style.width = percent(candidate.probability ?? 0);
    bar.append(fill);
    row.append(element("span", "digit", String(candidate.digit)), " ", bar, " ",
               element("span", "probability", percent(candidate.probability)));
    return row;
  }));
  drawSeen(answer.seen);
  showUnits(answer.units);
}

function showNothing() {
  prediction.replaceChildren(element("p", "nothing", NOTHING));
  prediction.dataset.state = "empty";
  drawSeen(null);
  showUnits(null);
}

function showProblem(message) {
  prediction.replaceChildren(element("p", "problem", message));
  prediction.dataset.state = "error";
}

function drawSeen(rows) {
  const picture = seen.getContext("2d");
  picture.fillStyle = "#000";
  picture.fillRect(0, 0, seen.width, seen.height);
  if (!rows) return;
  const pixels = picture.createImageData(seen.width, seen.height);
  rows.forEach((row, y) => row.forEach((value, x) => {
    const grey = Math.round(255 * Math.min(1, Math.max(0, value ?? 0)));
    pixels.data.set([grey, grey, grey, 255], 4 * (y * seen.width + x));
  }));
  picture.putImageData(pixels, 0, 0);
}

// ---------------------------------------------------------------- the first layer

function cell(unit) {
  if (!cells.has(unit)) {
    const made = element("figure", "unit");
    const picture = element("img");
    picture.src = `/weights/${unit}.png`;
    picture.alt = `weights of ${model.units === "templates" ? "digit" : "unit"} ${unit}`;
    const name = element("figcaption", "name",
                         model.units === "templates" ? `digit ${unit}` : `unit ${unit}`);
    made.append(name, picture, element("figcaption", "score", ""));
    cells.set(unit, made);
  }
  return cells.get(unit);
}

function showUnits(list) {
  if (model === null) return;
  if (model.units === "templates") {
    const best = list ? Math.max(...list.map((u) => u.score)) : null;
    for (let k = 0; k < model.sizes[1]; k += 1) {
      const shown = cell(k);
      const score = list ? list[k].score : null;
      shown.querySelector(".score").textContent = score === null ? "z = –" : `z = ${score.toFixed(2)}`;
      shown.classList.toggle("best", score !== null && score === best);
    }
    units.replaceChildren(...[...Array(model.sizes[1]).keys()].map(cell));
    return;
  }
  if (!list) {
    units.replaceChildren(element("p", "nothing", "Draw to see which hidden units respond."));
    return;
  }
  units.replaceChildren(...list.map((u) => {
    const shown = cell(u.unit);
    shown.querySelector(".score").textContent =
      `a = ${u.activation.toFixed(2)}, z = ${u.score.toFixed(1)}`;
    return shown;
  }));
}

function describe(summary) {
  const accuracy = summary.test_accuracy !== null
    ? `test accuracy ${percent(summary.test_accuracy)}`
    : `test accuracy not recorded${summary.val_accuracy !== null
      ? ` (validation ${percent(summary.val_accuracy)})` : ""}`;
  const units = summary.activation ? `${summary.activation} hidden units, ` : "";
  return `${summary.run}: ${summary.network} (${units}${summary.output} output, trained by ` +
         `${summary.rule}), ${accuracy}, checkpoint of epoch ${summary.epoch}`;
}

async function start() {
  paint();
  showNothing();
  try {
    model = await (await fetch("/model")).json();
  } catch (error) {
    document.getElementById("model").textContent = `Cannot read the model: ${error.message}`;
    return;
  }
  document.getElementById("model").textContent = describe(model);
  [seen.height, seen.width] = model.image_shape;
  if (model.deskew) {
    document.getElementById("seen-note").append(" Then deskewed, as in training.");
  }
  const [inputs, hidden] = model.sizes;
  document.getElementById("units-title").textContent = model.units === "templates"
    ? "The 10 templates and their scores"
    : "The hidden units that respond most";
  document.getElementById("units-note").textContent = model.units === "templates"
    ? `Each output unit k is a template w_k of ${inputs} weights; its score z_k = w_k·x + b_k ` +
      "adds up the weights under your ink (each times the pixel's value) and the bias b_k. " +
      "The highest score wins."
    : `Of the ${hidden} hidden units, those whose activation a_j = f(w_j·x + b_j) is ` +
      "largest for your drawing, most responsive first, each drawn as its input weights w_j.";
  showUnits(null);
  if (strokes.length > 0) changed();
}

start();
