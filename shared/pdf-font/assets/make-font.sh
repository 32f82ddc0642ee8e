#!/usr/bin/env bash
# Rebuilds NotoSansSC-GB2312.ttf from Debian's fonts-noto-cjk (SIL OFL 1.1, see OFL.txt).
# Needs: apt-get install fonts-noto-cjk; pip install fonttools.
set -euo pipefail
cd "$(dirname "$0")"
src=/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc   # face 2 = Noto Sans CJK SC
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1. The characters: GB2312 rows 1-2 (punctuation, symbols, ①⑴Ⅰ), row 6 (Greek) and
#    rows 16-87 (the 6763 hanzi of levels 1 and 2).
python3 - "$tmp/chars.txt" <<'PY'
import sys
out = []
for row in [1, 2, 6] + list(range(16, 88)):
    for cell in range(0xA1, 0xFF):
        try:
            out.append(bytes([0xA0 + row, cell]).decode("gb2312"))
        except UnicodeDecodeError:
            pass
open(sys.argv[1], "w", encoding="utf-8").write("".join(out))
PY

# 2. Subset: those plus ASCII, Latin-1, ×, general punctuation, CJK punctuation and
#    full-width forms (¥ is Latin-1, ￥ full-width); no hinting, no layout tables.
pyftsubset "$src" --font-number=2 --text-file="$tmp/chars.txt" \
  --unicodes=U+0020-007E,U+00A0-00FF,U+00D7,U+2010-2027,U+2030-203B,U+3000-303F,U+FF00-FFEF \
  --layout-features= --no-hinting --desubroutinize --notdef-outline --recalc-bounds \
  --drop-tables+=vhea,vmtx,VORG,BASE,GSUB,GPOS,GDEF \
  --name-IDs=0,1,2,3,4,5,6,7,13,14 \
  --output-file="$tmp/subset.otf"

# 3. CFF -> TrueType outlines (fontTools' cu2qu, max error 1 unit): a `glyf` font is cut per
#    document by copying glyph records, ~10x cheaper than re-writing CFF charstrings.
python3 - "$tmp/subset.otf" NotoSansSC-GB2312.ttf <<'PY'
import sys
from fontTools.ttLib import TTFont, newTable
from fontTools.pens.cu2quPen import Cu2QuPen
from fontTools.pens.ttGlyphPen import TTGlyphPen

font = TTFont(sys.argv[1], recalcTimestamp=False)
order = font.getGlyphOrder()
glyphs = font.getGlyphSet()
glyf = newTable("glyf")
glyf.glyphOrder, glyf.glyphs = order, {}
for name in order:
    pen = TTGlyphPen(glyphs)
    glyphs[name].draw(Cu2QuPen(pen, 1.0, reverse_direction=True))
    glyf[name] = pen.glyph()
font["loca"], font["glyf"] = newTable("loca"), glyf
maxp = font["maxp"] = newTable("maxp")
maxp.tableVersion, maxp.numGlyphs, maxp.maxZones = 0x00010000, len(order), 1
for attr in ("maxTwilightPoints", "maxStorage", "maxFunctionDefs", "maxInstructionDefs",
             "maxStackElements", "maxSizeOfInstructions"):
    setattr(maxp, attr, 0)
font["post"].formatType = 3.0  # no glyph names
del font["CFF "]
font.sfntVersion = "\0\1\0\0"
font["head"].glyphDataFormat = 0
font.save(sys.argv[2])
PY
ls -l NotoSansSC-GB2312.ttf
