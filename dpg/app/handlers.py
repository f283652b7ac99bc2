"""What each control of the editor does, as plain functions ``(gen, session, ...) -> session``.

``gen`` is the app's one ``PersonGenerator``; a session is never mutated (a new one is
returned). Bad input raises ``dpg.errors.UserError`` with a message for the page; ``app.py``
turns it into a warning and leaves the session as it was.

Moving one control recomputes one factor: a seed or a slider of the foreground samples a new
foreground embedding from that factor's own noise and leaves the background embedding and
the keypoints bit-identical (``test_app_handlers.py`` checks it), so the page's picture
changes in that factor only.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import replace

import numpy as np
import torch

from dpg.app.session import (
    FACTOR_LABELS,
    MAX_SEED,
    SLIDERS,
    Session,
    changed_factors,
    check_amounts,
    check_factor,
    check_factor_list,
    check_seed,
    encoding,
    factors,
    is_photos,
    materialize,
    model_keypoints,
    render,
    sample_factor,
)
from dpg.app.views import joint_label
from dpg.directions import apply_all, move_pose
from dpg.errors import UserError
from dpg.keypoints import BODY_PARTS, JOINTS, require_pose

MAX_STEPS = 24
INVERT_ITERS = 300  # L-BFGS iterations per factor when inverting a photo (section 4.4; the pose up to twice): seconds on a CPU
# No basin hops: they halve a photo's residual (fg 10% -> 6%) but cost ~15 s a photo on a CPU
# (``PersonGenerator.invert``); the CLI's ``dpg invert`` and ``dpg interpolate --a --b`` take them.
INVERT_HOPS = 0

# A person standing upright, facing the camera, as fractions of (width, height): where a joint
# the pose lacks appears when it is switched on (fitted to the joints the pose has).
# fmt: off
TEMPLATE = np.array([
    (0.50, 0.12), (0.50, 0.22),                    # nose, neck
    (0.33, 0.23), (0.29, 0.38), (0.28, 0.52),      # right shoulder, elbow, wrist (image left)
    (0.67, 0.23), (0.71, 0.38), (0.72, 0.52),      # left shoulder, elbow, wrist
    (0.41, 0.52), (0.40, 0.70), (0.40, 0.88),      # right hip, knee, ankle
    (0.59, 0.52), (0.60, 0.70), (0.60, 0.88),      # left hip, knee, ankle
    (0.46, 0.10), (0.54, 0.10), (0.42, 0.11), (0.58, 0.11),  # right eye, left eye, right ear, left ear
], np.float32)
# fmt: on
# (right, left) joints whose order across the image tells front from back: shoulders,
# elbows, wrists, hips, knees, ankles, eyes, ears.
MIRROR_PAIRS = ((2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13), (14, 15), (16, 17))


def random_seed() -> int:
    return secrets.randbelow(MAX_SEED + 1)


# ------------------------------------------------------------------------------------------
# 1. Sample


def start(gen, s: Session) -> Session:
    """The person of a new session (its default seeds)."""
    return materialize(gen, s)


def set_factor(gen, s: Session, factor: str, seed, amounts) -> Session:
    """Sample ``factor`` from ``seed`` moved by the slider ``amounts``; the others stay.

    Where the factor came from a photo (or a part swap, or the pose editor) and the seed box
    still holds the session's seed, the sliders move that factor instead (``slide``): a
    slider nudged after an upload used to replace the photo's clothing with the stale seed's.
    A new seed (typed, or the dice) takes the seed's factor as before."""
    check_factor(gen, factor)
    seed, amounts = check_seed(seed), check_amounts(amounts)
    s = materialize(gen, s)
    if s.sources[factor] != "seed" and seed == s.seeds[factor]:
        return slide(gen, s, factor, amounts)
    value = sample_factor(gen, factor, seed, amounts)
    s = replace(
        s,
        seeds={**s.seeds, factor: seed},
        offsets={**s.offsets, factor: amounts},
        sources={**s.sources, factor: "seed"},
        named={k: v for k, v in s.named.items() if k != factor},  # a new person: named sliders back at 0
    )
    if factor == "pose":
        return replace(s, keypoints=value, pose_origin={"keypoints": value, "source": "seed"})
    return replace(s, **{factor: value})


def from_anchor(s: Session, name: str, factor: str, amounts, current, move):
    """A factor moved by a set of sliders from its *anchor*: the factor as it was when those
    sliders last started from it (``s.anchors[name]``: its value and the sliders' values
    ``current`` then), replaced when the factor has changed since by another control.
    Sliders back at the anchor's values give its value exactly; otherwise ``move(value,
    values_then)`` moves it. Returns ``(session field, new value, new anchors)``."""
    key = "keypoints" if factor == "pose" else factor
    anchor = s.anchors.get(name)
    if anchor is None or anchor["result"] != getattr(s, key):
        anchor = {"value": getattr(s, key), "amounts": list(current)}
    value = anchor["value"] if list(amounts) == list(anchor["amounts"]) else move(anchor["value"], anchor["amounts"])
    return key, value, {**s.anchors, name: {**anchor, "result": value}}


def slide(gen, s: Session, factor: str, amounts) -> Session:
    """Move a factor that did not come from a seed along the sliders' directions.

    The factor as it was before the sliders moved (its *anchor*, with the slider values of
    that moment) is kept in the session; the new value is the anchor plus what the same
    slider change does to a sampled person at the noise's mean: ``Phi(shift(a)) -
    Phi(shift(a0))`` for embeddings, the same difference of the drawn keypoints for the pose
    (visible joints moved, visibility kept). Sliders back at ``a0`` give the anchor exactly.
    An anchor is replaced when the factor has changed since (another upload, a take, an edit).
    """

    def move(base, a0):
        # the noise's mean moved by each slider setting: shift(a) is a z [1, K] itself
        new, old = (gen.factor_from_z(factor, gen.shift(factor, a))[0].cpu().numpy() for a in (amounts, a0))
        base = np.asarray(base, dtype=np.float32)
        if factor == "pose":  # [18, 3]: visible joints move where both drawn poses show them
            moves = (base[:, 2] > 0) & (new[:, 2] > 0) & (old[:, 2] > 0)
            moved = base.copy()
            moved[moves, :2] += new[moves, :2] - old[moves, :2]
            moved[:, :2] = np.clip(moved[:, :2], 0, [gen.width - 1, gen.height - 1])
            return moved.tolist()
        return (base + new - old).tolist()

    key, value, anchors = from_anchor(s, factor, factor, amounts, s.offsets[factor], move)
    return replace(s, offsets={**s.offsets, factor: amounts}, anchors=anchors, **{key: value})


def set_named(gen, directions: dict, s: Session, factor: str, amounts) -> Session:
    """Move ``factor`` along its named directions (``dpg.directions``: "red top", "brighter
    background", "facing away") to the slider ``amounts``.

    Like ``slide`` (``from_anchor``): the factor's anchor moved by the change of the values
    (``apply_all`` for embeddings, ``move_pose`` for the pose), so the sliders back where they
    were give the anchor exactly."""

    check_factor(gen, factor)
    dirs = directions.get(factor) or []
    if not dirs:
        raise UserError(f"this model has no named {FACTOR_LABELS[factor]} directions (python -m train.directions makes them)")
    amounts = check_amounts(amounts, len(dirs))
    s = materialize(gen, s)

    def move(base, a0):
        delta = [a - b for a, b in zip(amounts, a0)]
        if factor == "pose":
            return move_pose(gen, model_keypoints(base), dirs, delta).tolist()
        return apply_all(np.asarray(base, np.float32), dirs, delta).tolist()

    key, value, anchors = from_anchor(s, f"named:{factor}", factor, amounts, s.named.get(factor, [0.0] * len(dirs)), move)
    return replace(s, named={**s.named, factor: amounts}, anchors=anchors, **{key: value})


def roll(gen, s: Session, factor: str, seed: int | None = None) -> Session:
    """The dice of one factor: a new seed (random unless given), the sliders kept."""
    check_factor(gen, factor)
    return set_factor(gen, s, factor, random_seed() if seed is None else seed, s.offsets[factor])


def sample_all(gen, s: Session, locked=(), seeds: dict | None = None) -> Session:
    """New seeds for every factor not in ``locked`` (factor keys or labels)."""
    locked = check_factor_list(gen, locked, "locked factor") if locked else []
    for f in gen.factors:
        if f not in locked:
            s = roll(gen, s, f, (seeds or {}).get(f))
    return materialize(gen, s)


# ------------------------------------------------------------------------------------------
# 2. Edit a photo


def load_photo(gen, finder, s: Session, source, slot: str = "photo", fit: bool | None = None):
    """Find the person in a photo. ``slot="photo"``: the person shown becomes them (all
    factors from the photo). ``slot="other"``: keep them as the second photo, to take factors
    or body parts from. ``fit``: fit the embeddings to the photo (``PersonFinder.steps``;
    None: the host's default). Returns ``(session, FoundPerson)``."""
    if slot not in ("photo", "other"):
        raise ValueError(f"slot must be 'photo' or 'other', got {slot!r}")
    found = finder.find(gen, source, fit)
    key = finder.store.add(found.person) if found.person is not None else None
    enc = encoding(found.name, found.factors, key, found.fitted)
    inverted = {k: v for k, v in s.inverted.items() if k != slot}
    s = materialize(gen, replace(s, inverted=inverted, **{slot: enc}))
    if slot == "photo":
        s = use_photo(gen, s)
    return s, found


def picture(gen, finder, s: Session, full: bool = False, model_image: np.ndarray | None = None) -> np.ndarray:
    """What the page shows for a session: with a photo being edited, the edit on the photo at
    its own pixels (``PersonGenerator.on_photo``: the photo's preview, or the photo itself
    when ``full``); else, or with ``s.model_only``, the model's output. ``model_image`` is
    ``render(gen, s)`` when the caller has it already."""
    model_image = render(gen, s) if model_image is None else model_image
    if s.model_only or s.photo is None:
        return model_image
    person = finder.store.get(s.photo.get("key"), full)
    changed = changed_factors(gen, s)
    if person is None or changed >= {"fg", "pose"} and ("bg" in changed or "bg" not in gen.factors):
        return model_image  # nothing of the photo is left (or it was forgotten)
    background = None
    if "bg" in changed and s.other is not None and s.bg == s.other["bg"]:
        background = finder.store.get(s.other.get("key"), full)  # the second photo's real background
    return gen.on_photo(person, factors(gen, s), changed, background)


def set_model_only(gen, s: Session, value) -> Session:
    """The "model output only" switch: the model's own output rather than the photo edit."""
    return replace(materialize(gen, s), model_only=bool(value))


def drop_photo(gen, s: Session, slot: str = "photo") -> Session:
    """A refused upload empties its slot: the photo there before is no longer used (not by
    "Take", not by "back to the photo's person"), and the factors that came from it say
    which photo that was."""
    if slot not in ("photo", "other"):
        raise ValueError(f"slot must be 'photo' or 'other', got {slot!r}")
    old = getattr(s, slot)
    if old is None:
        return s
    label = "photo" if slot == "photo" else "second photo"
    sources = {f: (f"from {old['name']} (replaced by a refused upload)" if src == label else src) for f, src in s.sources.items()}
    inverted = {k: v for k, v in s.inverted.items() if k != slot}
    return replace(s, sources=sources, inverted=inverted, **{slot: None})


def set_fit(gen, finder, s: Session, fit) -> tuple[Session, list[str], list[str]]:
    """The "fit to the photo" box changed: the photos already loaded are encoded again, fitted
    to the photo (``finder.steps(True)`` refine steps) or not, from the crops the app keeps
    (no second search for the person). A factor of the person shown that still is the photo's
    follows it; one edited since (a slider, a take, a drag) keeps its edit. Returns the session,
    the names of the photos encoded again and of those the store no longer keeps (to upload
    again; they stay as they were)."""
    steps = finder.steps(bool(fit))
    s, redone, forgotten = materialize(gen, s), [], []
    for slot in ("photo", "other"):
        old = getattr(s, slot)
        if old is None or old.get("fitted", 0) == steps:
            continue
        person = finder.store.get(old.get("key"))
        if person is None:  # forgotten by the store (or found without a mask): cannot redo it
            forgotten.append(old["name"])
            continue
        fac = gen.encode(person.crop[None], person.keypoints[None], steps)
        enc = encoding(old["name"], fac, old["key"], steps)
        updates = {slot: enc}
        for f in ("fg", "bg"):
            if f in gen.factors and is_photos(s, f, old):
                updates[f] = enc[f]
        s = replace(s, inverted={k: v for k, v in s.inverted.items() if k != slot}, **updates)
        redone.append(old["name"])
    return s, redone, forgotten


def use_photo(gen, s: Session) -> Session:
    """All factors back to those of the photo being edited."""
    if s.photo is None:
        raise UserError("upload a photo (or pick an example) first")
    p = s.photo
    kp = p["keypoints"]
    return replace(
        s,
        fg=p["fg"],
        bg=p["bg"] if "bg" in gen.factors else None,
        keypoints=kp,
        pose_origin={"keypoints": kp, "source": "photo"},
        sources={f: "photo" for f in s.sources},
    )


def take_from_other(gen, s: Session, chosen) -> Session:
    """The person shown with the chosen factors (background, foreground, pose) of the second photo."""
    chosen = check_factor_list(gen, chosen)
    if s.other is None:
        raise UserError("upload a second photo to take the background, clothing or pose from")
    s = materialize(gen, s)
    o = s.other
    updates, sources = {}, dict(s.sources)
    for f in chosen:
        sources[f] = "second photo"
        if f == "pose":
            updates["keypoints"] = o["keypoints"]
            updates["pose_origin"] = {"keypoints": o["keypoints"], "source": "second photo"}
        else:
            updates[f] = o[f]
    return replace(s, sources=sources, **updates)


def part_label(part: str) -> str:
    return part.replace("_", " ")


def swap_parts(gen, s: Session, parts) -> Session:
    """The person shown with single body parts' appearance (``dpg.keypoints.BODY_PARTS``,
    e.g. the upper body's shirt) taken from the second photo."""
    by_label = {part_label(p): p for p in BODY_PARTS}
    parts = [by_label.get(p, p) for p in (parts or [])]
    if not parts:
        raise UserError(f"choose at least one body part ({', '.join(by_label)})")
    if s.other is None:
        raise UserError("upload a second photo to take body parts from")
    s = materialize(gen, s)
    a = factors(gen, s)
    b = factors(gen, replace(s, fg=s.other["fg"]))
    mixed = gen.swap_parts(a, b, parts)  # raises UserError for unknown parts or a whole-body model
    return replace(s, fg=mixed.fg[0].cpu().tolist(), sources={**s.sources, "fg": "mixed"})


# ------------------------------------------------------------------------------------------
# 3. Edit the pose


def parse_keypoints(value, height: int, width: int) -> np.ndarray:
    """The pose editor's value (its dict, the dict as JSON, or the keypoints themselves) ->
    float32 ``[18, 3]`` clipped to the image, ``v`` in {0, 1}. The browser may send anything."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise UserError("the pose editor sent unreadable keypoints") from None
    if isinstance(value, dict):
        value = value.get("keypoints")
    try:
        kp = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise UserError("keypoints must be 18 rows of [x, y, visible]") from None
    if kp.shape != (18, 3) or not np.isfinite(kp).all():
        raise UserError(f"keypoints must be 18 rows of finite [x, y, visible], got shape {kp.shape}")
    kp[:, 0] = np.clip(kp[:, 0], 0, width - 1)
    kp[:, 1] = np.clip(kp[:, 1], 0, height - 1)
    kp[:, 2] = kp[:, 2] > 0.5
    return kp


def move_joints(gen, s: Session, value) -> Session:
    """Keypoints from the pose editor (after a drag): the person re-renders in that pose."""
    kp = parse_keypoints(value, gen.height, gen.width)
    if kp[:, 2].sum() == 0:
        raise UserError("show at least one joint: a pose with no joint cannot be drawn")
    require_pose(kp, gen.height, gen.width)  # the same rule as dpg transfer --pose-json; hidden joints keep their place
    s = materialize(gen, s)
    return replace(s, keypoints=kp.tolist(), sources={**s.sources, "pose": "edited"})


def pose_note(keypoints) -> str:
    """What the page says about an edited pose the model follows less well (empty when none):
    a wrist raised above the head. Almost no one in the photos the model learnt from raises
    their arms (0.1% of Market-1501's training poses, 2.7% of the prepared pedestrians', most
    of those detection slips), so it learnt raised arms from the procedural people mixed into
    its training (``stage1.raised_arm_mix``): they are drawn, but plainer and sometimes shorter
    than the person's other limbs (``bench/bench_arms.py``)."""
    kp = model_keypoints(keypoints)
    nose, wrists = kp[0], kp[[4, 7]]
    if nose[2] and any(w[2] and w[1] < nose[1] - 2 for w in wrists):
        return (
            "A wrist above the head: few people in the photos the model learnt from raise their arms, so it "
            "learnt them from drawn people; such an arm can come out plainer or shorter than the rest."
        )
    return ""


def place_missing(kp: np.ndarray, height: int, width: int) -> np.ndarray:
    """Where joints without coordinates go: ``TEMPLATE`` (mirrored for a person seen from
    behind) scaled and shifted to fit the joints that have them (least squares on
    ``s * t + c``), or as is when fewer than two have."""
    known = (kp[:, 0] != 0) | (kp[:, 1] != 0)
    template = TEMPLATE.copy()
    # A person seen from behind has their right side on the image's right: mirror the
    # template, or a wrist switched back on lands across the torso.
    pairs = [(r, l) for r, l in MIRROR_PAIRS if known[r] and known[l]]
    if pairs and np.mean([kp[r, 0] - kp[l, 0] for r, l in pairs]) > 0:
        template[:, 0] = 1 - template[:, 0]
    t = template * np.array([width, height], np.float32)
    if known.sum() >= 2:
        a = np.zeros((2 * known.sum(), 3), np.float32)
        a[0::2, 0], a[0::2, 1] = t[known, 0], 1
        a[1::2, 0], a[1::2, 2] = t[known, 1], 1
        sol, *_ = np.linalg.lstsq(a, kp[known, :2].reshape(-1), rcond=None)
        scale = float(np.clip(sol[0], 0.25, 4.0))
        t = t * scale + sol[1:]
    out = kp.copy()
    out[~known, :2] = t[~known]
    out[:, 0] = np.clip(out[:, 0], 0, width - 1)
    out[:, 1] = np.clip(out[:, 1], 0, height - 1)
    return out


def set_visible_joints(gen, s: Session, labels) -> Session:
    """Show exactly the joints named in ``labels`` (``"right wrist"`` or ``"right_wrist"``).
    A hidden joint keeps its place; a joint the pose never had is placed from ``TEMPLATE``."""
    names = {str(n).replace(" ", "_") for n in (labels or [])}
    unknown = names - set(JOINTS)
    if unknown:
        raise UserError(f"unknown joints {sorted(unknown)}; joints are {', '.join(joint_label(j) for j in range(18))}")
    if not names:
        raise UserError("show at least one joint: a pose with no joint cannot be drawn")
    s = materialize(gen, s)
    kp = np.asarray(s.keypoints, dtype=np.float32)
    show = np.array([JOINTS[j] in names for j in range(18)])
    # Only joints switched on get a place; the others keep theirs (or none).
    kp = np.where(show[:, None] & (kp[:, 2:] == 0), place_missing(kp, gen.height, gen.width), kp)
    kp[:, 2] = show
    return replace(s, keypoints=kp.tolist(), sources={**s.sources, "pose": "edited"})


def reset_pose(gen, s: Session) -> Session:
    """Undo the pose edits: back to the pose last sampled or taken from a photo."""
    s = materialize(gen, s)
    origin = s.pose_origin
    return replace(s, keypoints=origin["keypoints"], sources={**s.sources, "pose": origin["source"]})


def random_pose(gen, s: Session, seed: int | None = None) -> Session:
    """A new pose from the pose sampler (a random pose seed, the pose sliders at zero)."""
    check_factor(gen, "pose")
    return set_factor(gen, s, "pose", random_seed() if seed is None else seed, [0.0] * SLIDERS)


# ------------------------------------------------------------------------------------------
# 4. Interpolate


def _check_steps(steps, method: str) -> int:
    try:
        n = int(steps)
    except (TypeError, ValueError):
        raise UserError(f"steps must be a whole number from 2 to {MAX_STEPS}") from None
    if not 2 <= n <= MAX_STEPS:
        raise UserError(f"steps must be a whole number from 2 to {MAX_STEPS}, got {steps}")
    if method not in ("lerp", "slerp"):
        raise UserError(f"interpolation must be lerp or slerp, got {method!r}")
    return n


def interpolate_seeds(gen, seed_a, seed_b, chosen, steps=8, method: str = "slerp") -> np.ndarray:
    """From the person of seed A (every factor) to seed B in the ``chosen`` factors, in noise
    space: uint8 frames ``[steps, H, W, 3]``. Factors not chosen stay at seed A."""
    a, b = check_seed(seed_a), check_seed(seed_b)
    chosen, n = check_factor_list(gen, chosen), _check_steps(steps, method)
    z1 = {f: gen.noise(f, [a])[0] for f in gen.factors}
    z2 = {f: gen.noise(f, [b])[0] for f in gen.factors}
    return gen.compose(gen.interpolate(z1, z2, n, method, chosen))


def interpolate_photos(gen, s: Session, chosen, steps=8, method: str = "slerp"):
    """Inverse interpolation (section 4.4) from the photo being edited to the second photo:
    both are inverted to noise codes (once per photo; kept in the session), then interpolated
    like seeds. Returns ``(session, frames [steps, H, W, 3], residuals {factor: float})``."""
    chosen, n = check_factor_list(gen, chosen), _check_steps(steps, method)
    if s.photo is None or s.other is None:
        raise UserError("upload two photos (the photo to edit and a second photo) to interpolate between them")
    inverted = dict(s.inverted)
    for slot in ("photo", "other"):
        if slot not in inverted:
            p = getattr(s, slot)
            fac = factors(gen, replace(s, fg=p["fg"], bg=p["bg"], keypoints=p["keypoints"]))
            inv = gen.invert(fac, iters=INVERT_ITERS, hops=INVERT_HOPS)
            inverted[slot] = {
                "z": {f: inv.z[f][0].cpu().tolist() for f in inv.z},
                "residual": {f: float(inv.residual[f][0]) for f in inv.residual},
            }
    s = replace(s, inverted=inverted)
    z1, z2 = ({f: _tensor(gen, v) for f, v in inverted[k]["z"].items()} for k in ("photo", "other"))
    frames = gen.compose(gen.interpolate(z1, z2, n, method, chosen))
    residual = {f: max(inverted["photo"]["residual"][f], inverted["other"]["residual"][f]) for f in gen.factors}
    return s, frames, residual


def _tensor(gen, values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32, device=gen.device)


def describe_residual(residual: dict) -> str:
    """How well the photos were inverted, for the page."""
    parts = [f"{FACTOR_LABELS[f]} {100 * r:.0f}%" for f, r in residual.items()]
    return "Inversion residual (relative error of the embedding, worse of the two photos): " + ", ".join(parts)
