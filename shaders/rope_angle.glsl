// The angle of a RoPE table lookup (see rope.comp): (cos, sin) of the sum of
// the angles whose (cos, sin) are lo (position % 256) and hi (position / 256).
vec2 rope_angle(vec2 lo, vec2 hi)
{
    return vec2(hi.x * lo.x - hi.y * lo.y, hi.y * lo.x + hi.x * lo.y);
}
