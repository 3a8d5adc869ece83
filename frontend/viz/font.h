// Kiln's built-in bitmap font for captions: printable ASCII in 5x9 cells (7 rows above the
// baseline, 2 for descenders), drawn one pixel per cell bit at any integer scale.
#ifndef KILN_FRONTEND_VIZ_FONT_H_
#define KILN_FRONTEND_VIZ_FONT_H_

#include <array>
#include <cstdint>

namespace kiln::viz {

inline constexpr int kGlyphWidth = 5;
inline constexpr int kGlyphHeight = 9;  // Rows 0-6 down to the baseline, 7-8 descenders.
inline constexpr int kGlyphAdvance = kGlyphWidth + 1;
inline constexpr int kLineHeight = kGlyphHeight + 2;

// Row bits of one glyph: bit (kGlyphWidth - 1 - x) of rows[y] is pixel (x, y).
using Glyph = std::array<uint8_t, kGlyphHeight>;

// The glyph for `c`; characters outside printable ASCII draw as '?'.
const Glyph& GlyphFor(char c);

}  // namespace kiln::viz

#endif  // KILN_FRONTEND_VIZ_FONT_H_
