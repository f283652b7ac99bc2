// The pose editor: the person with the skeleton drawn over it, joints you can drag.
//
// Runs as the `js_on_load` of a gr.HTML component (app.py): `element` is the component,
// `props.value` its value {image, width, height, keypoints}, `props.limbs`, `props.colours`
// and `props.joints` the skeleton's bones, their colours and the joint names; `trigger` sends
// an event to the server and `watch` re-renders when the server sends a new value.
//
// The SVG overlay uses the model's pixels as its coordinates (viewBox = the image size, pixel
// centres at integers + 0.5), so a joint dropped anywhere on the enlarged picture maps back to
// model pixels exactly, whatever the display size. While a joint is dragged only the SVG
// moves (no server round trip); on release the new keypoints become `props.value.keypoints`
// and a "drag" event asks the server to re-render the person in that pose. A focused joint
// also moves with the arrow keys (shift: 4 pixels), for keyboards and tests.

const NS = "http://www.w3.org/2000/svg";
let drag = null; // {joint, circle, svg, kp, moved}
let focusJoint = null;
// Keypoints edited here that the server has not drawn yet, and until when to keep them. A held
// arrow key sends ~30 edits a second; the server draws only the last one waiting, and each
// answer it sends back carried an older pose, which put the joint back: a second of holding
// moved it one pixel. Answers that are not the pose edited here yet are drawn with it.
let pending = null; // {kp, until}
const PENDING_MS = 1500;

function svgEl(tag, attrs) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

function copyKeypoints() {
  return props.value.keypoints.map((k) => k.slice());
}

function render() {
  const root = element.querySelector(".dpg-pose");
  if (!root) return;
  root.replaceChildren();
  const v = props.value;
  if (!v || !v.image || !Array.isArray(v.keypoints)) {
    const p = document.createElement("p");
    p.className = "dpg-empty";
    p.textContent = "The person appears here once the model has drawn one.";
    root.append(p);
    return;
  }
  const box = document.createElement("div");
  box.className = "dpg-box";
  box.style.aspectRatio = `${v.width} / ${v.height}`;
  const img = document.createElement("img");
  img.src = v.image;
  img.alt = "the person, with the skeleton to edit";
  img.draggable = false;
  const svg = svgEl("svg", { viewBox: `0 0 ${v.width} ${v.height}`, class: "dpg-skeleton" });
  const r = Math.max(v.height / 48, 0.5); // joint radius in model pixels: ~10 screen pixels
  const kp = v.keypoints;
  (props.limbs || []).forEach(([a, b], i) => {
    if (kp[a][2] > 0 && kp[b][2] > 0) {
      svg.append(svgEl("line", {
        x1: kp[a][0] + 0.5, y1: kp[a][1] + 0.5, x2: kp[b][0] + 0.5, y2: kp[b][1] + 0.5,
        "data-a": a, "data-b": b, stroke: (props.colours || [])[i] || "#fff", "stroke-width": r * 0.6,
      }));
    }
  });
  kp.forEach((k, j) => {
    if (k[2] <= 0) return;
    const c = svgEl("circle", {
      cx: k[0] + 0.5, cy: k[1] + 0.5, r, "data-joint": j, class: "dpg-joint", tabindex: 0,
      "stroke-width": r * 0.25, role: "slider", "aria-label": (props.joints || [])[j] || `joint ${j}`,
    });
    const title = svgEl("title", {});
    title.textContent = (props.joints || [])[j] || `joint ${j}`;
    c.append(title);
    svg.append(c);
  });
  box.append(img, svg);
  root.append(box);
  if (focusJoint !== null) {
    const c = svg.querySelector(`circle[data-joint="${focusJoint}"]`);
    if (c) c.focus({ preventScroll: true });
  }
}

// Move joint j to (x, y) in the SVG only (lines follow), clamped to the image.
function place(svg, kp, j, x, y) {
  const v = props.value;
  x = Math.min(Math.max(x, 0), v.width - 1);
  y = Math.min(Math.max(y, 0), v.height - 1);
  kp[j] = [Math.round(x * 100) / 100, Math.round(y * 100) / 100, 1];
  const c = svg.querySelector(`circle[data-joint="${j}"]`);
  if (c) { c.setAttribute("cx", x + 0.5); c.setAttribute("cy", y + 0.5); }
  svg.querySelectorAll(`line[data-a="${j}"]`).forEach((l) => { l.setAttribute("x1", x + 0.5); l.setAttribute("y1", y + 0.5); });
  svg.querySelectorAll(`line[data-b="${j}"]`).forEach((l) => { l.setAttribute("x2", x + 0.5); l.setAttribute("y2", y + 0.5); });
}

// Hand the edited keypoints to the server.
function commit(kp, j) {
  pending = { kp: kp.map((k) => k.slice()), until: Date.now() + PENDING_MS };
  props.value = { ...props.value, keypoints: kp };
  setTimeout(render, 0);
  trigger("drag", { joint: j });
}

function toModel(svg, evt) {
  const pt = svg.createSVGPoint();
  pt.x = evt.clientX;
  pt.y = evt.clientY;
  const p = pt.matrixTransform(svg.getScreenCTM().inverse());
  return [p.x - 0.5, p.y - 0.5];
}

element.addEventListener("pointerdown", (e) => {
  const c = e.target.closest ? e.target.closest("circle.dpg-joint") : null;
  if (!c || !props.value) return;
  e.preventDefault();
  c.setPointerCapture(e.pointerId);
  c.classList.add("dpg-dragging");
  focusJoint = Number(c.dataset.joint);
  drag = { joint: focusJoint, circle: c, svg: c.ownerSVGElement, kp: copyKeypoints(), moved: false };
});

element.addEventListener("pointermove", (e) => {
  if (!drag) return;
  const [x, y] = toModel(drag.svg, e);
  place(drag.svg, drag.kp, drag.joint, x, y);
  drag.moved = true;
});

function release() {
  if (!drag) return;
  const d = drag;
  drag = null;
  d.circle.classList.remove("dpg-dragging");
  if (d.moved) commit(d.kp, d.joint);
}
element.addEventListener("pointerup", release);
element.addEventListener("pointercancel", release);

element.addEventListener("keydown", (e) => {
  const c = e.target.closest ? e.target.closest("circle.dpg-joint") : null;
  const step = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] }[e.key];
  if (!c || !step || !props.value) return;
  e.preventDefault();
  const j = Number(c.dataset.joint);
  const k = e.shiftKey ? 4 : 1;
  const kp = copyKeypoints();
  focusJoint = j;
  place(c.ownerSVGElement, kp, j, kp[j][0] + k * step[0], kp[j][1] + k * step[1]);
  commit(kp, j);
});

function samePose(a, b) {
  return a.length === b.length && a.every((k, i) =>
    Math.abs(k[0] - b[i][0]) < 0.01 && Math.abs(k[1] - b[i][1]) < 0.01 && (k[2] > 0) === (b[i][2] > 0));
}

watch("value", () => {
  const v = props.value;
  if (pending && v && Array.isArray(v.keypoints)) {
    if (samePose(v.keypoints, pending.kp) || Date.now() > pending.until) {
      pending = null; // the server has drawn the pose edited here (or gave up on it)
    } else {
      props.value = { ...v, keypoints: pending.kp.map((k) => k.slice()) };
    }
  }
  render();
});
render();
