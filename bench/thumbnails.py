"""Time to make the downscaled copy of a phone photo that the fill-in page shows
(bot/filestore.thumbnail, JPEG decoded at a reduced scale), against decoding the whole photo
and then downscaling it (the same output size), alternating in the same run.

    python -m bench.thumbnails [--repeat 9] [--size 4000x3000]

The photo is noise (the hardest case for JPEG) saved at quality 85, as a phone saves it. The
page keeps the copies it made (bot/web/fill.py), so this is the cost of a photo's first view.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

from PIL import Image, ImageOps

from bot.filestore import THUMB_PX, thumbnail


def full_decode(data: bytes, px: int = THUMB_PX) -> bytes:
    with Image.open(io.BytesIO(data)) as im:
        im = ImageOps.exif_transpose(im)
        im.thumbnail((px, px))
        out = io.BytesIO()
        im.convert("RGB").save(out, "JPEG", quality=82, optimize=True)
        return out.getvalue()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.thumbnails")
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--size", default="4000x3000")
    args = ap.parse_args(argv)
    w, h = (int(x) for x in args.size.split("x"))
    buf = io.BytesIO()
    Image.effect_noise((w, h), 64).convert("RGB").save(buf, "JPEG", quality=85)
    photo = buf.getvalue()
    ours, base = [], []
    for _ in range(args.repeat):
        for fn, into in ((thumbnail, ours), (full_decode, base)):
            t = time.perf_counter()
            out = fn(photo)
            into.append(time.perf_counter() - t)
            with Image.open(io.BytesIO(out)) as im:
                assert max(im.size) == THUMB_PX
    a, b = statistics.median(ours), statistics.median(base)
    print(f"photo {w}x{h}, {len(photo) / 1e6:.1f} MB, {args.repeat} runs each (medians)")
    print(f"filestore.thumbnail   {a * 1000:7.0f} ms")
    print(f"full decode baseline  {b * 1000:7.0f} ms")
    print(f"ratio                 {a / b:7.2f}x")


if __name__ == "__main__":
    main()
