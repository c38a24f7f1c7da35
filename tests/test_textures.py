"""Natural texture for training (issue 30): folders as ``images``/``videos`` entries of
TrainConfig, and the pure parts of tools/install_textures.py (crops, licence reading, the
manifest) on synthetic data. No download: the installer runs on fake wheels made here."""
from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ssml.config import TrainConfig, absolute_paths
from ssml.data import load_images

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
import install_textures as it  # noqa: E402


def _png(path: Path, seed: int, size=(40, 30)) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, size[::-1], dtype=np.uint8)).save(path)
    return path


# --- TrainConfig folders ------------------------------------------------------------------------

def test_image_folder_means_its_image_files_sorted(tmp_path):
    for name, seed in (("b.png", 1), ("a.png", 2), ("C.JPG", 3)):
        _png(tmp_path / name, seed) if name.endswith(".png") else Image.new("RGB", (32, 32)).save(tmp_path / name, "JPEG")
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub").mkdir()
    _png(tmp_path / "sub" / "deeper.png", 4)
    cfg = TrainConfig(images=["camera", str(tmp_path)]).validate()
    assert cfg.image_files() == ["camera", *(str(tmp_path / n) for n in ("C.JPG", "a.png", "b.png"))]
    assert cfg.images == ["camera", str(tmp_path)]  # the config keeps the folder, not the list
    assert "4 photographs" in cfg.data_mix()
    images = load_images(cfg.image_files(), 16)
    assert images.shape == (4, 1, 16, 16)


def test_video_folder_means_its_video_files(tmp_path):
    for name in ("b.mp4", "a.mpg", "readme.md"):
        (tmp_path / name).write_bytes(b"")
    cfg = TrainConfig(videos=[str(tmp_path)], video_fraction=0.5).validate()
    assert cfg.video_files() == [str(tmp_path / "a.mpg"), str(tmp_path / "b.mp4")]


@pytest.mark.parametrize("setting", ["images", "videos"])
def test_empty_folder_is_one_line_naming_setting_and_folder(tmp_path, setting):
    (tmp_path / "only.txt").write_text("x")
    with pytest.raises(ValueError) as err:
        TrainConfig(**{setting: [str(tmp_path)]}, video_fraction=0.5).validate()
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(f"config {setting}:") and str(tmp_path) in msg


def test_unreadable_image_is_one_line_naming_setting_and_path(tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"not a png at all")
    cfg = TrainConfig(images=[str(tmp_path)]).validate()
    with pytest.raises(ValueError) as err:
        load_images(cfg.image_files(), 16)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("config images:") and str(bad) in msg


def test_held_out_ground_truth_refused_inside_a_folder(tmp_path):
    _png(tmp_path / "a.png", 0)
    _png(tmp_path / "200_part1_key_id151.png", 1)
    with pytest.raises(ValueError, match="config images=.*200_part1_key_id151.png"):
        TrainConfig(images=[str(tmp_path)]).validate()


def test_a_single_path_string_is_a_list_of_one(tmp_path):
    values = absolute_paths({"images": str(tmp_path), "videos": "clip.mp4", "speed": [0.1, 1.0]})
    assert values["images"] == [str(tmp_path)]
    assert values["videos"] == [str(Path("clip.mp4").resolve())]
    assert values["speed"] == [0.1, 1.0]


# --- tools/install_textures.py: pure parts ------------------------------------------------------

def test_photo_crops_scales_positions_and_determinism():
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (1200, 1800), dtype=np.uint8)
    crops = it.photo_crops(photo, per_scale=4)
    sides = [s for s, _, _ in crops]
    assert sorted(set(sides)) == [512, 1024]  # 2048 > the short side 1200: never upscaled
    assert sides.count(512) == 2 and sides.count(1024) == 4  # grid 1 x 2, then 2 x 3 thinned to 4
    assert all(c.shape == (512, 512) and c.dtype == np.uint8 for _, _, c in crops)
    again = it.photo_crops(photo, per_scale=4)
    assert all(np.array_equal(a[2], b[2]) for a, b in zip(crops, again))
    # at scale 512 the two crops are the left and right ends of the resized photo (768 x 512)
    small = np.asarray(Image.fromarray(photo).resize((768, 512), Image.LANCZOS))
    assert np.array_equal(crops[0][2], small[:, :512]) and np.array_equal(crops[1][2], small[:, -512:])


def test_photo_crops_of_a_photo_at_full_resolution_and_below_the_crop():
    photo = np.tile(np.arange(600, dtype=np.uint8)[None, :], (520, 1))
    crops = it.photo_crops(photo, sides=(512,), per_scale=8)
    assert [s for s, _, _ in crops] == [512]
    small = np.zeros((300, 400), np.uint8)
    out = it.photo_crops(small)  # below the crop: upscaled to a 512 short side
    assert len(out) == 1 and out[0][0] == 512 and out[0][2].shape == (512, 512)
    with pytest.raises(ValueError, match="2-D"):
        it.photo_crops(np.zeros((600, 600, 3), np.uint8))


DEP5 = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: demo

Files: *
Copyright: 2014 Somebody
License: GPL-2+

Files: 16.04/Bridge_by_A.jpg
Copyright: 2018. A
License: CC-BY-SA-4.0

Files: nature/Aqua.jpg
       nature/LadyBird.jpg
Copyright: 2008, B <b@example.org>
           2009, C
License: GPL-2+
Comment: Copyright holders are found in AUTHORS file.

Files: debian/*
Copyright: 2011, D
License: Expat

License: Expat
 Permission is hereby granted ...
"""


def test_dep5_licence_of_installed_paths():
    paras = it.parse_dep5(DEP5)
    assert [p["license"] for p in paras] == ["GPL-2+", "CC-BY-SA-4.0", "GPL-2+", "Expat"]
    bridge = it.dep5_match(paras, "usr/share/backgrounds/Bridge_by_A.jpg")
    assert bridge["license"] == "CC-BY-SA-4.0" and bridge["copyright"] == "2018. A"
    lady = it.dep5_match(paras, "usr/share/backgrounds/mate/nature/LadyBird.jpg")
    assert lady["copyright"] == "2008, B <b@example.org>\n2009, C" and lady["license"] == "GPL-2+"
    other = it.dep5_match(paras, "usr/share/backgrounds/other.jpg")
    assert other["files"] == ["*"]  # debian/* does not govern an installed file


def test_readme_paragraph_is_quoted_exactly():
    text = ("Image: a.jpg\nReleased under a creative commons license. [1]\n\n"
            "[1] https://creativecommons.org/licenses/by/2.0/\n\n\n"
            "Image: b.jpg\nPublic domain.\n")
    assert it.readme_paragraph(text, "a.jpg") == ("Image: a.jpg\nReleased under a creative commons license. [1]"
                                                  "\n\n[1] https://creativecommons.org/licenses/by/2.0/")
    assert it.readme_paragraph(text, "b.jpg") == "Image: b.jpg\nPublic domain."
    assert it.readme_paragraph(text, "c.jpg") == ""


def _wheel(path: Path, files: dict) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def _jpeg(seed: int, size=(700, 560)) -> bytes:
    import io

    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def test_install_writes_a_complete_manifest_from_fake_packages(tmp_path):
    downloads = tmp_path / "dl"
    downloads.mkdir()
    _wheel(downloads / "Fake_examples-1.2-py3-none-any.whl", {
        "Fake_examples-1.2.dist-info/METADATA": "Metadata-Version: 2.1\nName: Fake-examples\nLicense: MIT\n",
        "Fake_examples-1.2.data/share/clipCC0.mpg": b"\x00\x00\x01\xba fake",
        "Fake_examples-1.2.data/share/Wall.jpg": _jpeg(0, (900, 560))})
    _wheel(downloads / "fake_learn-3.4-cp311-cp311-linux_x86_64.whl", {
        "fake_learn/images/README.txt": "Image: china.jpg\nReleased under a creative commons license. [1]\n\n"
                                        "[1] https://creativecommons.org/licenses/by/2.0/\n",
        "fake_learn/images/china.jpg": _jpeg(1, (640, 427))})
    sources = [
        it.Source("pypi", "Fake-examples", [it.Pick("Fake_examples-1.2.data/share/clipCC0.mpg", "video", note="CC0"),
                                            it.Pick("Fake_examples-1.2.data/share/Wall.jpg", name="fake_Wall")],
                  "wheel-metadata"),
        it.Source("pypi", "fake-learn", [it.Pick("fake_learn/images/china.jpg")], "readme:fake_learn/images/README.txt"),
    ]
    out = tmp_path / "textures"
    manifest = it.install(out, downloads, per_scale=2, sources=sources, log=lambda _: None)
    assert json.loads((out / "LICENSES.json").read_text()) == manifest
    assert it.manifest_problems(out, manifest) == []
    files = manifest["files"]
    assert files["videos/clipCC0.mpg"]["license"] == "MIT" and files["videos/clipCC0.mpg"]["note"] == "CC0"
    assert files["videos/clipCC0.mpg"]["version"] == "1.2" and files["videos/clipCC0.mpg"]["registry"] == "pypi"
    assert sorted(f for f in files if f.startswith("photos/")) == [
        "photos/china_s512_0.png", "photos/fake_Wall_s512_0.png", "photos/fake_Wall_s512_1.png"]
    china = files["photos/china_s512_0.png"]
    assert china["license"] == "CC-BY-2.0" and china["original"] == "fake_learn/images/china.jpg"
    assert china["photo_size"] == "640x427"
    with Image.open(out / "photos/fake_Wall_s512_1.png") as img:
        assert img.mode == "L" and img.size == (512, 512)
    # a file without an entry, or an entry without a licence, is reported
    (out / "photos" / "stray.png").write_bytes(b"")
    del files["photos/china_s512_0.png"]["license"]
    assert it.manifest_problems(out, manifest) == ["photos/stray.png: no licence entry",
                                                   "photos/china_s512_0.png: no license"]


def test_licence_from_dep5_and_kde_metadata(tmp_path):
    tree = tmp_path / "tree"
    doc = tree / "usr/share/doc/wall/copyright"
    doc.parent.mkdir(parents=True)
    doc.write_text(DEP5)
    photo = tree / "usr/share/wallpapers/Kite/contents/images/2560x1600.jpg"
    photo.parent.mkdir(parents=True)
    photo.write_bytes(b"")
    (tree / "usr/share/wallpapers/Kite/metadata.json").write_text(json.dumps(
        {"KPlugin": {"Authors": [{"Name": "R. S."}], "License": "LGPLv3", "Name": "Kite"}}))
    kde = it.licence_of(it.Source("debian", "wall", [], "kde-metadata"), tree, photo, it.Pick())
    assert kde["license"] == "LGPLv3" and kde["author"] == "R. S."
    assert kde["debian_copyright"] == {"license": "GPL-2+", "copyright": "2014 Somebody"}
    bridge = tree / "usr/share/backgrounds/Bridge_by_A.jpg"
    bridge.parent.mkdir(parents=True)
    bridge.write_bytes(b"")
    rec = it.licence_of(it.Source("debian", "wall", [], "dep5"), tree, bridge, it.Pick())
    assert rec["license"] == "CC-BY-SA-4.0" and rec["copyright"] == "2018. A"


def test_missing_tool_is_one_error_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(it.shutil, "which", lambda name: None)
    with pytest.raises(it.InstallError, match="^apt-get not found"):
        it.fetch(it.SOURCES[0], tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    (out / "x").write_text("keep")
    assert it.main(["--out", str(out)]) == 2  # never replaced without --overwrite
    assert (out / "x").read_text() == "keep" and "--overwrite" in capsys.readouterr().err
    assert it.main(["--out", str(tmp_path / "new"), "--downloads", str(tmp_path / "dl")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: apt-get not found")
    assert not (tmp_path / "new").exists() and not list(tmp_path.glob(".new.tmp*"))
