"""Decodes the barcodes of label pages rendered by `pdftoppm -gray` (PGM), with zxing-cpp.

Usage: python3 decode_barcodes.py PAGE.pgm...  ->  one line per file: the decoded Code 128
texts, comma-separated, top to bottom. Exit status 3 when zxing-cpp is not installed
(`pip install zxing-cpp`), so the Rust test that runs this can skip rather than fail.
"""
import sys

try:
    import zxingcpp
except ImportError:
    sys.exit(3)


class Gray:
    """An 8-bit grey image that zxing-cpp reads through the array interface (no numpy)."""

    def __init__(self, path):
        data = open(path, "rb").read()
        fields, pos = [], 0
        while len(fields) < 4:
            while data[pos:pos + 1].isspace():
                pos += 1
            if data[pos:pos + 1] == b"#":
                pos = data.index(b"\n", pos)
                continue
            end = pos
            while not data[end:end + 1].isspace():
                end += 1
            fields.append(data[pos:end])
            pos = end
        magic, width, height, maxval = fields[0], int(fields[1]), int(fields[2]), int(fields[3])
        assert magic == b"P5" and maxval == 255, (magic, maxval)
        pixels = data[pos + 1:pos + 1 + width * height]
        self.__array_interface__ = {
            "shape": (height, width),
            "typestr": "|u1",
            "data": pixels,
            "version": 3,
        }


for path in sys.argv[1:]:
    found = zxingcpp.read_barcodes(Gray(path), formats=zxingcpp.BarcodeFormat.Code128)
    found = sorted(found, key=lambda b: b.position.top_left.y)
    print(",".join(b.text for b in found))
