// The design page. It talks only to TF Serving's REST API on its own origin
// (POST v1/models/NAME:predict with the "attention" signature, GET
// v1/models/NAME), so it works in front of serving.server and of
// tensorflow_model_server behind the same origin alike. ?model=NAME picks the
// served model (default fashion_t2i).
"use strict";

const MODEL = new URLSearchParams(location.search).get("model") || "fashion_t2i";
const MODEL_URL = `v1/models/${encodeURIComponent(MODEL)}`;
const MAX_VARIATIONS = 8;
const MAX_SEED = 2 ** 31 - 1;
// The tokenizer's word for a word that is not in the vocabulary: the
// prediction's "tokens" hold it where its "words" hold the word as typed.
const UNKNOWN_TOKEN = "[UNK]";
const MAP_PIXELS = 160;

const form = document.getElementById("design-form");
const descriptionInput = document.getElementById("description");
const variationsInput = document.getElementById("variations");
const seedInput = document.getElementById("seed");
const randomSeedInput = document.getElementById("random-seed");
const generateButton = document.getElementById("generate");
const statusLine = document.getElementById("status");
const unknownLine = document.getElementById("unknown-words");
const errorLine = document.getElementById("error");
const designs = document.getElementById("designs");
const attentionPanel = document.getElementById("attention");
const attentionTitle = document.getElementById("attention-title");
const wordMaps = document.getElementById("word-maps");

// The words of a prediction the model does not know, as typed (normalised by the graph).
function unknownWords(prediction) {
  return prediction.words.filter((word, position) => prediction.tokens[position] === UNKNOWN_TOKEN);
}

// Names the description's unknown words under the status line (hidden when there are none).
function showUnknownWords(words) {
  unknownLine.replaceChildren();
  unknownLine.hidden = !words.length;
  if (!words.length) return;
  unknownLine.append("Not in the model\u2019s vocabulary, read as an unknown word: ");
  words.forEach((word, index) => {
    const mark = document.createElement("span");
    mark.className = "unknown";
    mark.textContent = word;
    unknownLine.append(index ? ", " : "", mark);
  });
  unknownLine.append(".");
}

function showError(sentence) {
  errorLine.textContent = sentence;
  errorLine.hidden = false;
  statusLine.textContent = "";
}

function clearError() {
  errorLine.textContent = "";
  errorLine.hidden = true;
}

// A sentence for a failed predict call: HTTP status and the server's {"error": ...}.
function errorSentence(status, message) {
  message = message || "";
  if (/has no words|at least one letter or digit/.test(message)) {
    return "The description has no words: write at least one letter or digit, " +
      "for example \u201ca navy blue ankle boot\u201d.";
  }
  if (status === 429 || status === 503) {
    return "The model server is busy right now; try again in a moment.";
  }
  if (status === 504) {
    return "The model server took too long to answer; try fewer variations.";
  }
  if (status === 413) {
    return "The request is too large for the server; ask for fewer variations.";
  }
  if (status === 404) {
    return `The model \u201c${MODEL}\u201d is not served here (${message}). ` +
      "Check the ?model= name, or that a version has been exported.";
  }
  if (status === 400) {
    return `The server could not use this request: ${message}`;
  }
  return `The model server failed (HTTP ${status}): ${message || "no details"}.`;
}

function pngUrl(prediction) {
  return `data:image/png;base64,${prediction.png_bytes.b64}`;
}

async function generate(event) {
  event.preventDefault();
  clearError();
  showUnknownWords([]);
  const description = descriptionInput.value;
  const count = Math.min(Math.max(parseInt(variationsInput.value, 10) || 1, 1), MAX_VARIATIONS);
  variationsInput.value = count;
  if (randomSeedInput.checked || !Number.isInteger(parseInt(seedInput.value, 10))) {
    seedInput.value = Math.floor(Math.random() * (MAX_SEED - MAX_VARIATIONS));
  }
  const firstSeed = parseInt(seedInput.value, 10);
  const instances = Array.from({length: count}, (_, i) => ({texts: description, seeds: firstSeed + i}));

  generateButton.disabled = true;
  statusLine.textContent = `Designing ${count} variation${count > 1 ? "s" : ""}\u2026`;
  let response;
  let body = {};
  try {
    response = await fetch(`${MODEL_URL}:predict`, {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({signature_name: "attention", instances}),
    });
    body = await response.json().catch(() => ({}));
  } catch (error) {
    showError("Could not reach the model server. Check that it is running (make serve) " +
      "and that this page is opened from it, then try again.");
    return;
  } finally {
    generateButton.disabled = false;
  }
  if (!response.ok) {
    showError(errorSentence(response.status, body.error));
    return;
  }
  statusLine.textContent = `Seeds ${firstSeed}\u2013${firstSeed + count - 1}. Select a design to see where each word looks.`;
  showUnknownWords(unknownWords(body.predictions[0]));
  showDesigns(body.predictions, firstSeed);
}

function showDesigns(predictions, firstSeed) {
  designs.replaceChildren();
  attentionPanel.hidden = true;
  predictions.forEach((prediction, index) => {
    const seed = firstSeed + index;
    const figure = document.createElement("figure");
    figure.className = "design";
    const select = document.createElement("button");
    select.type = "button";
    select.setAttribute("aria-pressed", "false");
    const image = document.createElement("img");
    image.src = pngUrl(prediction);
    image.alt = `Design ${index + 1}, seed ${seed}`;
    select.append(image);
    select.addEventListener("click", () => {
      for (const other of designs.querySelectorAll("button")) other.setAttribute("aria-pressed", "false");
      select.setAttribute("aria-pressed", "true");
      showAttention(prediction, seed, index);
    });
    const caption = document.createElement("figcaption");
    caption.textContent = `seed ${seed} \u00b7 `;
    const download = document.createElement("a");
    download.href = image.src;
    download.download = `design-seed-${seed}.png`;
    download.textContent = "Download PNG";
    caption.append(download);
    figure.append(select, caption);
    designs.append(figure);
  });
}

async function showAttention(prediction, seed, index) {
  attentionTitle.textContent = `Design ${index + 1} (seed ${seed}): word attention`;
  wordMaps.replaceChildren();
  attentionPanel.hidden = false;
  const maps = prediction.attention;
  const height = maps.length && maps[0].length;
  const width = height && maps[0][0].length;
  if (!height || !width) {
    wordMaps.textContent = "This model has no word attention maps (it has no refinement stage).";
    return;
  }
  const image = new Image();
  image.src = pngUrl(prediction);
  await image.decode();
  prediction.tokens.forEach((token, position) => {
    if (!token) return;  // padding
    const unknown = token === UNKNOWN_TOKEN;
    const figure = document.createElement("figure");
    figure.className = "word-map";
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = MAP_PIXELS;
    drawAttention(canvas, image, maps[position]);
    const label = document.createElement("figcaption");
    label.className = unknown ? "word-label unknown" : "word-label";
    label.textContent = unknown ? prediction.words[position] : token;
    if (unknown) label.title = "Not in the model's vocabulary: read as an unknown word.";
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", `Attention of \u201c${label.textContent}\u201d`);
    figure.append(canvas, label);
    wordMaps.append(figure);
  });
}

// The design, greyed, under a red heat map of one word's attention, stretched
// from its lowest to its highest weight (a flat map is drawn faintly).
function drawAttention(canvas, image, map) {
  const context = canvas.getContext("2d");
  context.imageSmoothingEnabled = false;
  context.filter = "grayscale(1)";
  context.drawImage(image, 0, 0, canvas.width, canvas.height);
  context.filter = "none";
  const rows = map.length;
  const columns = map[0].length;
  const values = map.flat();
  const low = Math.min(...values);
  const range = Math.max(...values) - low;
  const flat = range <= 1e-6 * Math.max(Math.abs(low), 1e-8);
  const heat = document.createElement("canvas");
  heat.width = columns;
  heat.height = rows;
  const pixels = heat.getContext("2d").createImageData(columns, rows);
  values.forEach((value, i) => {
    const alpha = flat ? 60 : 30 + 180 * (value - low) / range;
    pixels.data.set([230, 30, 30, Math.round(alpha)], 4 * i);
  });
  heat.getContext("2d").putImageData(pixels, 0, 0);
  context.imageSmoothingEnabled = true;
  context.drawImage(heat, 0, 0, canvas.width, canvas.height);
}

async function showModelStatus() {
  const footer = document.getElementById("model-status");
  try {
    const response = await fetch(MODEL_URL);
    const body = await response.json();
    if (!response.ok) {
      footer.textContent = `Model \u201c${MODEL}\u201d: ${body.error}`;
      return;
    }
    const versions = body.model_version_status.map((v) => `version ${v.version} (${v.state.toLowerCase()})`);
    footer.textContent = `Model \u201c${MODEL}\u201d, ${versions.join(", ")}.`;
  } catch (error) {
    footer.textContent = "The model server is not reachable.";
  }
}

form.addEventListener("submit", generate);
randomSeedInput.addEventListener("change", () => { seedInput.disabled = randomSeedInput.checked; });
showModelStatus();
