/* tinyforge int8 kernels (see tf_kernels.h for the contract).
 * Fixed-point helpers follow gemmlowp / TFLite exactly, including saturation
 * and rounding ties; any change here must keep the host tests bit-exact. */
#include "tf_kernels.h"

#include <string.h>

#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
#include <arm_acle.h>
#define TF_DSP 1
#endif

#if defined(__GNUC__)
#define TF_NOINLINE __attribute__((noinline))
/* Forced even at -Os: the bit width / block size arguments must fold into each copy. */
#define TF_INLINE __attribute__((always_inline)) static inline
/* Run once per inference on a handful of values: optimise these for size. */
#define TF_COLD __attribute__((cold))
#else
#define TF_NOINLINE
#define TF_INLINE static inline
#define TF_COLD
#endif

#if defined(__GNUC__) && !defined(__clang__)
/* Patches are a few bytes per tap: plain loops beat a memcpy/memset call, and keep
 * the C library out of the image. */
#define TF_NO_LIBCALLS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define TF_NO_LIBCALLS
#endif

/* ---- fixed point ------------------------------------------------------ */

/* gemmlowp SaturatingRoundingDoublingHighMul. The reference adds a sign-dependent
 * nudge and divides with truncation; (ab + 2^30) >> 31 (arithmetic shift) gives the
 * same value for every input (both cases reduce to floor((ab + 2^30) / 2^31)) and
 * compiles to SMULL + add + shift instead of a 64-bit division sequence. */
static inline int32_t srdhm(int32_t a, int32_t b)
{
    if (a == b && a == INT32_MIN) return INT32_MAX;
    return (int32_t)(((int64_t)a * (int64_t)b + (1ll << 30)) >> 31);
}

/* srdhm for b != INT32_MIN, where the saturating case cannot arise. */
static inline int32_t srdhm_nosat(int32_t a, int32_t b)
{
    return (int32_t)(((int64_t)a * (int64_t)b + (1ll << 30)) >> 31);
}

static inline int32_t rdbp(int32_t x, int32_t e)
{
    int32_t mask = (int32_t)((1u << e) - 1u); /* e <= 31 */
    int32_t rem = x & mask;
    int32_t thr = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> e) + (rem > thr ? 1 : 0);
}

static inline int32_t mbqm(int32_t x, int32_t mult, int32_t shift)
{
    int32_t left = shift > 0 ? shift : 0;
    int32_t right = shift > 0 ? 0 : -shift;
    /* wrapping multiply, as the reference's int32 arithmetic on two's complement */
    int32_t shifted = (int32_t)((uint32_t)x * (uint32_t)(1u << left));
    return rdbp(srdhm(shifted, mult), right);
}

int32_t tf_mbqm(int32_t x, int32_t mult, int32_t shift) { return mbqm(x, mult, shift); }

static inline int32_t clamp(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* One output channel's requantization with the shift already split: kernels that
 * produce several pixels of a channel per pass derive it once and apply it to each.
 * rq_apply(rq_of(m, s), x) == mbqm(x, m, s) for every input. */
typedef struct {
    int32_t mult, left, right, mask;
} tf_rq;

static inline tf_rq rq_of(int32_t mult, int32_t shift)
{
    tf_rq q;
    q.mult = mult;
    q.left = shift > 0 ? shift : 0;
    q.right = shift > 0 ? 0 : -shift;
    q.mask = (int32_t)((1u << q.right) - 1u);
    return q;
}

static inline int32_t qadd_i32(int32_t a, int32_t b)
{
#if TF_DSP
    return __qadd(a, b);
#else
    const int64_t v = (int64_t)a + b;
    return v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : (int32_t)v;
#endif
}

static inline int32_t rq_apply(tf_rq q, int32_t x)
{
    const int32_t a = (int32_t)((uint32_t)x << q.left);
    const int32_t s = srdhm(a, q.mult);
    const int32_t thr = (q.mask >> 1) + (int32_t)((uint32_t)s >> 31);
    return (s >> q.right) + ((s & q.mask) > thr ? 1 : 0);
}

/* Whether rq_fast applies: a right shift of 1..22 (so no left shift) and a multiplier
 * that cannot saturate the doubling multiply. */
static inline int rq_fast_ok(tf_rq q) { return q.right >= 1 && q.right <= 22 && q.mult != INT32_MIN; }

/* mbqm for rq_fast_ok parameters (right = -shift, 1..22; half = 2^(right-1), which
 * callers hoist out of their loops): rounding half away from zero
 * as one add, (s + 2^(r-1) - (s < 0)) >> r, where the reference masks and compares.
 * The add saturates instead of wrapping; it can only saturate for s > 2^31 - 2^(r-1),
 * whose result 2^(31-r) (or one less, saturated) exceeds 255 for r <= 22 and so clamps
 * to the same activation bound either way. */
static inline int32_t rq_fast(int32_t acc, int32_t mult, int32_t half, int right)
{
    const int32_t s = srdhm_nosat(acc, mult);
    return (qadd_i32(s, half) + (s >> 31)) >> right;
}

/* One channel's entry in a kernel's requantization table: its multiplier and right
 * shift for rq_fast, or right = 0 where only the reference arithmetic is exact (a left
 * shift, a right shift over 22, the INT32_MIN multiplier). A zero multiplier (a channel
 * whose weights were all pruned) gives 0 at any shift, so it takes right = 1. */
static inline uint8_t rq_entry(int32_t mult, int32_t shift)
{
    const tf_rq q = rq_of(mult, shift);
    return mult == 0 ? 1 : rq_fast_ok(q) ? (uint8_t)q.right : 0;
}

/* A layer's output offset and activation range, read once: every int8 store may
 * alias the parameter struct, so fields read inside the loops are reloaded after
 * each store. */
typedef struct {
    int32_t off, lo, hi;
} tf_act;

static inline int8_t act_out(tf_act a, int32_t v)
{
    v += a.off;
    return (int8_t)(v < a.lo ? a.lo : v > a.hi ? a.hi : v);
}

/* gemmlowp SaturatingRoundingMultiplyByPOT for positive exponents */
static inline int32_t sat_shl(int32_t x, int e)
{
    int32_t threshold = (int32_t)((1u << (31 - e)) - 1u);
    if (x > threshold) return INT32_MAX;
    if (x < -threshold) return INT32_MIN;
    return (int32_t)((uint32_t)x << e);
}

/* ---- add ------------------------------------------------------------- */

static inline int32_t add_one(const tf_add_params *p, int32_t a, int32_t b)
{
    int32_t sa = (a + p->in1_offset) * (1 << p->left_shift);
    int32_t sb = (b + p->in2_offset) * (1 << p->left_shift);
    int32_t xa = rdbp(srdhm(sa, p->in1_mult), -p->in1_shift);
    int32_t xb = rdbp(srdhm(sb, p->in2_mult), -p->in2_shift);
    int32_t raw = rdbp(srdhm(xa + xb, p->out_mult), -p->out_shift) + p->out_offset;
    return clamp(raw, p->act_min, p->act_max);
}

void tf_add_s8(const tf_add_params *p, const int8_t *a, const int8_t *b, int8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = (int8_t)add_one(p, a[i], b[i]);
}

void tf_mul_s8(const tf_mul_params *p, const int8_t *a, const int8_t *b, int8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int32_t prod = (a[i] + p->in1_offset) * (b[i] + p->in2_offset);
        /* saturating add of the offset, as the reference */
        int64_t v = (int64_t)mbqm(prod, p->mult, p->shift) + p->out_offset;
        out[i] = (int8_t)(v < p->act_min ? p->act_min : v > p->act_max ? p->act_max : v);
    }
}

/* ---- convolution ------------------------------------------------------ */

/* The fused residual add, out of line: inlined into every epilogue copy it would
 * triple the convolution's code size for a per-element cost of a call. */
static TF_NOINLINE int32_t conv_add(const tf_conv_params *p, int32_t v, const int8_t *skip)
{
    int32_t k = *skip;
    int32_t first = p->conv_is_first ? v : k, second = p->conv_is_first ? k : v;
    return add_one(p->add, first, second);
}

static inline tf_act conv_act(const tf_conv_params *p)
{
    tf_act a = {p->out_offset, p->act_min, p->act_max};
    return a;
}


/* The reference path for one output of a right = 0 table entry; out of line, as such
 * channels are rare. */
static TF_NOINLINE int8_t rq_exact(int32_t acc, int32_t mult, int32_t shift, const tf_act *act)
{
    return act_out(*act, mbqm(acc, mult, shift));
}

/* Requantizes int32 accumulators of one output channel as the kernels do (exported
 * for tests of rq_fast against the reference arithmetic). */
void tf_requantize_s8(const int32_t *acc, size_t n, int8_t *out, int32_t mult, int32_t shift,
                      int32_t out_offset, int32_t act_min, int32_t act_max)
{
    const tf_act a = {out_offset, act_min, act_max};
    const int r = rq_entry(mult, shift);
    for (size_t i = 0; i < n; i++)
        out[i] = r ? act_out(a, rq_fast(acc[i], mult, 1 << (r - 1), r)) : rq_exact(acc[i], mult, shift, &a);
}

/* `skip` is NULL unless the layer has a fused add. */
static inline int8_t conv_out(const tf_conv_params *p, tf_act a, tf_rq q, int32_t acc,
                              const int8_t *skip)
{
    const int8_t v = act_out(a, rq_apply(q, acc));
    return skip ? (int8_t)conv_add(p, v, skip) : v;
}

static int conv_is_direct(const tf_conv_params *p)
{
    return p->k_h == 1 && p->k_w == 1 && p->pad_h == 0 && p->pad_w == 0;
}

size_t tf_conv2d_s8_scratch(const tf_conv_params *p)
{
    const size_t K = (size_t)p->k_h * p->k_w * p->in_c;
    /* the sparse kernel gathers four patches per pass (block 1 always, as a tile),
     * the others two */
    if (p->sparse_block == 1 || (p->sparse_block == 4 && !conv_is_direct(p))) return 4u * K;
    return conv_is_direct(p) ? 0 : 2u * K;
}

TF_NO_LIBCALLS static inline void patch_copy(int8_t *d, const int8_t *s, int n)
{
    int k = 0;
    for (; k + 4 <= n; k += 4) { /* word copies; memcpy of 4 is one LDR/STR */
        uint32_t v;
        memcpy(&v, s + k, 4);
        memcpy(d + k, &v, 4);
    }
    for (; k < n; k++) d[k] = s[k];
}

TF_NO_LIBCALLS static inline void patch_fill(int8_t *d, int8_t v, int n)
{
    for (int k = 0; k < n; k++) d[k] = v;
}

/* The K-long patch feeding output pixel (b, oy, ox): a pointer into the input
 * for 1x1 convolutions, else gathered into `dst` with padded taps set to the
 * input zero point. */
TF_NO_LIBCALLS static const int8_t *conv_patch(const tf_conv_params *p, const int8_t *in, int b, int oy, int ox,
                                int8_t *dst)
{
    const int in_c = p->in_c;
    if (conv_is_direct(p))
        return in + (((size_t)b * p->in_h + (size_t)oy * p->stride_h) * p->in_w +
                     (size_t)ox * p->stride_w) * in_c;
    const int8_t pad_val = (int8_t)(-p->in_offset);
    const int x0 = ox * p->stride_w - p->pad_w;
    int8_t *d = dst;
    for (int ky = 0; ky < p->k_h; ky++) {
        const int iy = oy * p->stride_h - p->pad_h + ky * p->dil_h;
        if (iy < 0 || iy >= p->in_h) {
            patch_fill(d, pad_val, p->k_w * in_c);
            d += p->k_w * in_c;
            continue;
        }
        const int8_t *row = in + ((size_t)b * p->in_h + (size_t)iy) * p->in_w * in_c;
        if (p->dil_w == 1) {
            /* the taps inside the input are one contiguous run of the row */
            const int lo = x0 < 0 ? (-x0 < p->k_w ? -x0 : p->k_w) : 0;
            const int hi = p->in_w - x0 < p->k_w ? (p->in_w - x0 > lo ? p->in_w - x0 : lo) : p->k_w;
            patch_fill(d, pad_val, lo * in_c);
            patch_copy(d + lo * in_c, row + (size_t)(x0 + lo) * in_c, (hi - lo) * in_c);
            patch_fill(d + hi * in_c, pad_val, (p->k_w - hi) * in_c);
        } else {
            for (int kx = 0; kx < p->k_w; kx++) {
                const int ix = x0 + kx * p->dil_w;
                if (ix < 0 || ix >= p->in_w) patch_fill(d + kx * in_c, pad_val, in_c);
                else patch_copy(d + kx * in_c, row + (size_t)ix * in_c, in_c);
            }
        }
        d += p->k_w * in_c;
    }
    return dst;
}

#if TF_DSP
static inline uint32_t rd32(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4); /* unaligned LDR is fine on v7E-M */
    return v;
}
static inline int32_t sx02(uint32_t v) { return (int32_t)__sxtb16((int32_t)v); }
static inline int32_t sx13(uint32_t v)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return (int32_t)r;
}
#endif

/* Output channels whose accumulators a dense convolution keeps before requantizing. */
#define TF_OC_BLOCK 64

/* acc[r][c] += dot(a_r, w_c) for two patches and two filter rows */
static inline void dot_2x2(const int8_t *a0, const int8_t *a1, const int8_t *w0, const int8_t *w1,
                           int K, int32_t acc[4])
{
    int32_t s00 = acc[0], s01 = acc[1], s10 = acc[2], s11 = acc[3];
    int k = 0;
#if TF_DSP
    for (; k + 4 <= K; k += 4) {
        uint32_t x0 = rd32(a0 + k), x1 = rd32(a1 + k);
        int32_t x0l = sx02(x0), x0h = sx13(x0), x1l = sx02(x1), x1h = sx13(x1);
        uint32_t y = rd32(w0 + k);
        int32_t yl = sx02(y), yh = sx13(y);
        s00 = __smlad(x0l, yl, s00);
        s00 = __smlad(x0h, yh, s00);
        s10 = __smlad(x1l, yl, s10);
        s10 = __smlad(x1h, yh, s10);
        y = rd32(w1 + k);
        yl = sx02(y);
        yh = sx13(y);
        s01 = __smlad(x0l, yl, s01);
        s01 = __smlad(x0h, yh, s01);
        s11 = __smlad(x1l, yl, s11);
        s11 = __smlad(x1h, yh, s11);
    }
#endif
    for (; k < K; k++) {
        int32_t x0 = a0[k], x1 = a1[k], y0 = w0[k], y1 = w1[k];
        s00 += x0 * y0;
        s01 += x0 * y1;
        s10 += x1 * y0;
        s11 += x1 * y1;
    }
    acc[0] = s00; acc[1] = s01; acc[2] = s10; acc[3] = s11;
}

static inline int32_t dot_1x1(const int8_t *a, const int8_t *w, int K, int32_t acc)
{
    int k = 0;
#if TF_DSP
    for (; k + 4 <= K; k += 4) {
        uint32_t x = rd32(a + k), y = rd32(w + k);
        acc = __smlad(sx02(x), sx02(y), acc);
        acc = __smlad(sx13(x), sx13(y), acc);
    }
#endif
    for (; k < K; k++) acc += (int32_t)a[k] * w[k];
    return acc;
}

/* acc[c] += dot(a, w_c) for one patch and two filter rows */
static inline void dot_1x2(const int8_t *a, const int8_t *w0, const int8_t *w1, int K,
                           int32_t *acc0, int32_t *acc1)
{
    int32_t s0 = *acc0, s1 = *acc1;
    int k = 0;
#if TF_DSP
    for (; k + 4 <= K; k += 4) {
        uint32_t x = rd32(a + k);
        int32_t xl = sx02(x), xh = sx13(x);
        uint32_t y = rd32(w0 + k);
        s0 = __smlad(xl, sx02(y), s0);
        s0 = __smlad(xh, sx13(y), s0);
        y = rd32(w1 + k);
        s1 = __smlad(xl, sx02(y), s1);
        s1 = __smlad(xh, sx13(y), s1);
    }
#endif
    for (; k < K; k++) {
        s0 += (int32_t)a[k] * w0[k];
        s1 += (int32_t)a[k] * w1[k];
    }
    *acc0 = s0;
    *acc1 = s1;
}

/* Weight i of a packed filter, sign-extended: (n ^ 8) - 8 maps the raw nibble
 * 0..15 to -8..7 (and (f ^ 2) - 2 the 2-bit field to -2..1) with no shifts of
 * negative values. */
TF_INLINE int32_t pw_get(const uint8_t *w, size_t i, int bits)
{
    if (bits == 4) {
        uint32_t b = w[i >> 1];
        uint32_t nib = (i & 1u) ? b >> 4 : b & 0xFu;
        return (int32_t)(nib ^ 8u) - 8;
    }
    uint32_t f = ((uint32_t)w[i >> 2] >> (2u * (i & 3u))) & 3u;
    return (int32_t)(f ^ 2u) - 2;
}

#if TF_DSP
/* Four packed weights w0..w3 (starting at the first field of byte q[0]) as two
 * int16 pairs lining up with sx02 / sx13 of four activations: lo = (w0, w2),
 * hi = (w1, w3). Spreading the bytes puts w2 at bit 16, then one mask, XOR and
 * SSUB16 sign-extend both halves at once. */
TF_INLINE void pw_pairs(const uint8_t *q, int bits, int32_t *lo, int32_t *hi)
{
    if (bits == 4) {
        const uint32_t v = (uint32_t)q[0] | ((uint32_t)q[1] << 8);
        const uint32_t h = v | (v << 8), m = 0x000F000Fu, s = 0x00080008u;
        *lo = (int32_t)__ssub16((int32_t)((h & m) ^ s), (int32_t)s);
        *hi = (int32_t)__ssub16((int32_t)(((h >> 4) & m) ^ s), (int32_t)s);
    } else {
        const uint32_t v = q[0];
        const uint32_t h = v | (v << 12), m = 0x00030003u, s = 0x00020002u;
        *lo = (int32_t)__ssub16((int32_t)((h & m) ^ s), (int32_t)s);
        *hi = (int32_t)__ssub16((int32_t)(((h >> 2) & m) ^ s), (int32_t)s);
    }
}
#endif

/* acc0 += dot(a0, w), acc1 += dot(a1, w) (a1 may be NULL) over the K weights of
 * a packed filter that start at element `start`. Rows starting on a byte
 * boundary take four weights per step; others go weight by weight. */
TF_INLINE void pdot(const int8_t *a0, const int8_t *a1, const uint8_t *w, size_t start, int K,
                    int bits, int32_t *acc0, int32_t *acc1)
{
    int32_t s0 = *acc0, s1 = acc1 ? *acc1 : 0;
    int k = 0;
#if TF_DSP
    const size_t per_byte = bits == 4 ? 2u : 4u;
    if (start % per_byte == 0) {
        const uint8_t *q = w + start / per_byte;
        const int step = bits == 4 ? 2 : 1;
        for (; k + 4 <= K; k += 4, q += step) {
            int32_t wl, wh;
            pw_pairs(q, bits, &wl, &wh);
            uint32_t x = rd32(a0 + k);
            s0 = __smlad(sx02(x), wl, s0);
            s0 = __smlad(sx13(x), wh, s0);
            if (a1) {
                x = rd32(a1 + k);
                s1 = __smlad(sx02(x), wl, s1);
                s1 = __smlad(sx13(x), wh, s1);
            }
        }
    }
#endif
    for (; k < K; k++) {
        const int32_t wv = pw_get(w, start + (size_t)k, bits);
        s0 += a0[k] * wv;
        if (a1) s1 += a1[k] * wv;
    }
    *acc0 = s0;
    if (acc1) *acc1 = s1;
}

/* acc0[c] / acc1[c] (c < cn) = bias + dot(a0 / a1, filter row oc0 + c): one kernel per
 * weight storage, called once per pixel pair and channel block. */
typedef void (*tf_block_dot)(const tf_conv_params *p, const int8_t *a0, const int8_t *a1, int oc0,
                             int cn, int32_t *acc0, int32_t *acc1);

static void block_dot_s8(const tf_conv_params *p, const int8_t *a0, const int8_t *a1, int oc0,
                         int cn, int32_t *acc0, int32_t *acc1)
{
    const int K = p->k_h * p->k_w * p->in_c;
    const int32_t *bias = p->bias;
    int c = 0;
    /* each filter row loaded once serves both pixels */
    for (; c + 2 <= cn; c += 2) {
        const int oc = oc0 + c;
        const int8_t *w0 = p->filter + (size_t)oc * K;
        int32_t acc[4] = {bias[oc], bias[oc + 1], bias[oc], bias[oc + 1]};
        dot_2x2(a0, a1, w0, w0 + K, K, acc);
        acc0[c] = acc[0];
        acc0[c + 1] = acc[1];
        acc1[c] = acc[2];
        acc1[c + 1] = acc[3];
    }
    if (c < cn) {
        const int oc = oc0 + c;
        acc0[c] = dot_1x1(a0, p->filter + (size_t)oc * K, K, bias[oc]);
        acc1[c] = dot_1x1(a1, p->filter + (size_t)oc * K, K, bias[oc]);
    }
}

TF_INLINE void block_dot_packed(const tf_conv_params *p, const int8_t *a0, const int8_t *a1,
                                int oc0, int cn, int32_t *acc0, int32_t *acc1, int bits)
{
    const int K = p->k_h * p->k_w * p->in_c;
    const uint8_t *w = (const uint8_t *)(const void *)p->filter;
    for (int c = 0; c < cn; c++) {
        int32_t s0 = p->bias[oc0 + c], s1 = s0;
        pdot(a0, a1, w, (size_t)(oc0 + c) * K, K, bits, &s0, &s1);
        acc0[c] = s0;
        acc1[c] = s1;
    }
}

static void block_dot_p4(const tf_conv_params *p, const int8_t *a0, const int8_t *a1, int oc0,
                         int cn, int32_t *acc0, int32_t *acc1)
{
    block_dot_packed(p, a0, a1, oc0, cn, acc0, acc1, 4);
}

static void block_dot_p2(const tf_conv_params *p, const int8_t *a0, const int8_t *a1, int oc0,
                         int cn, int32_t *acc0, int32_t *acc1)
{
    block_dot_packed(p, a0, a1, oc0, cn, acc0, acc1, 2);
}

/* Channel blocks outer, so each block's requantization is split once into a table and
 * its outputs take the one-add rounding of rq_fast, with nothing else live. An odd last
 * pixel runs as a pair with itself, written once. With a fused add (`skip` not NULL)
 * every output goes through conv_out. */
static void conv_blocks(const tf_conv_params *p, const int8_t *in, const int8_t *skip, int8_t *out,
                        int8_t *scratch, tf_block_dot dot)
{
    const int K = p->k_h * p->k_w * p->in_c;
    const int oc_n = p->out_c;
    const int pixels = p->out_h * p->out_w;
    const tf_act act = conv_act(p);
    int8_t *slot0 = scratch, *slot1 = scratch ? scratch + K : NULL;
    int32_t acc0[TF_OC_BLOCK], acc1[TF_OC_BLOCK], rq_mult[TF_OC_BLOCK];
    uint8_t rq_right[TF_OC_BLOCK];
    for (int oc0 = 0; oc0 < oc_n; oc0 += TF_OC_BLOCK) {
        const int cn = oc_n - oc0 < TF_OC_BLOCK ? oc_n - oc0 : TF_OC_BLOCK;
        for (int c = 0; c < cn; c++) {
            rq_mult[c] = p->mult[oc0 + c];
            rq_right[c] = rq_entry(p->mult[oc0 + c], p->shift[oc0 + c]);
        }
        for (int b = 0; b < p->batches; b++) {
            int8_t *ob = out + (size_t)b * pixels * oc_n + oc0;
            for (int px = 0; px < pixels; px += 2) {
                const int two = px + 1 < pixels;
                const int8_t *a0 = conv_patch(p, in, b, px / p->out_w, px % p->out_w, slot0);
                const int8_t *a1 =
                    two ? conv_patch(p, in, b, (px + 1) / p->out_w, (px + 1) % p->out_w, slot1) : a0;
                int8_t *o0 = ob + (size_t)px * oc_n, *o1 = two ? o0 + oc_n : NULL;
                dot(p, a0, a1, oc0, cn, acc0, acc1);
                if (skip) {
                    const int8_t *k0 = skip + (o0 - out), *k1 = k0 + oc_n;
                    for (int c = 0; c < cn; c++) {
                        const tf_rq q = rq_of(p->mult[oc0 + c], p->shift[oc0 + c]);
                        o0[c] = conv_out(p, act, q, acc0[c], k0 + c);
                        if (o1) o1[c] = conv_out(p, act, q, acc1[c], k1 + c);
                    }
                    continue;
                }
                for (int c = 0; c < cn; c++) {
                    const int32_t m = rq_mult[c];
                    const int r = rq_right[c];
                    if (!r) {
                        o0[c] = rq_exact(acc0[c], m, p->shift[oc0 + c], &act);
                        if (o1) o1[c] = rq_exact(acc1[c], m, p->shift[oc0 + c], &act);
                        continue;
                    }
                    const int32_t half = 1 << (r - 1);
                    o0[c] = act_out(act, rq_fast(acc0[c], m, half, r));
                    if (o1) o1[c] = act_out(act, rq_fast(acc1[c], m, half, r));
                }
            }
        }
    }
}

void tf_conv2d_s8(const tf_conv_params *p, const int8_t *in, const int8_t *skip, int8_t *out,
                  int8_t *scratch)
{
    conv_blocks(p, in, p->add ? skip : NULL, out, scratch, block_dot_s8);
}

/* ---- depthwise -------------------------------------------------------- */

/* One depthwise output value: channel oc = ic * depth_mult + m at (b, oy, ox).
 * Taps outside the input are skipped, as in the reference. */
TF_COLD static int8_t dw_point(const tf_dw_params *p, const int8_t *in, const int8_t *filter,
                       const int32_t *bias, const int32_t *mult, const int8_t *shift,
                       int b, int oy, int ox, int ic, int oc)
{
    const int in_c = p->in_c, out_c = p->out_c;
    const int y0 = oy * p->stride_h - p->pad_h, x0 = ox * p->stride_w - p->pad_w;
    int32_t acc = bias ? bias[oc] : 0;
    for (int ky = 0; ky < p->k_h; ky++) {
        const int iy = y0 + ky * p->dil_h;
        if (iy < 0 || iy >= p->in_h) continue;
        const int8_t *row = in + ((size_t)b * p->in_h + iy) * p->in_w * in_c + ic;
        const int8_t *f = filter + (size_t)ky * p->k_w * out_c + oc;
        for (int kx = 0; kx < p->k_w; kx++) {
            const int ix = x0 + kx * p->dil_w;
            if (ix < 0 || ix >= p->in_w) continue;
            acc += ((int32_t)row[(size_t)ix * in_c] + p->in_offset) * f[(size_t)kx * out_c];
        }
    }
    int32_t v = mbqm(acc, mult[oc], shift[oc]) + p->out_offset;
    return (int8_t)clamp(v, p->act_min, p->act_max);
}

/* Valid tap range [lo, hi) along one axis for a window starting at `start`. */
static inline void tap_range(int start, int k, int dil, int size, int *lo, int *hi)
{
    int l = 0, h = k;
    while (l < h && start + l * dil < 0) l++;
    while (h > l && start + (h - 1) * dil >= size) h--;
    *lo = l;
    *hi = h;
}

#define TF_DW_BLOCK 64

/* acc[0..4] += sum over the window of (x + off) * w for four adjacent channels.
 * Rows of the window start at xr / wr and advance by xstep / wstep; each row holds
 * `cols` taps, C apart. With off == 0 the add disappears after inlining, and with
 * constant rows and cols (the interior of a 3x3 layer) the loops unroll. */
TF_INLINE void dw_taps4(const int8_t *xr, const int8_t *wr, int rows, int cols, int C,
                        size_t xstep, size_t wstep, int32_t off, int32_t acc[4])
{
    int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
#if TF_DSP
    const int32_t offs = (int32_t)(((uint32_t)off & 0xFFFFu) | ((uint32_t)off << 16));
#endif
    for (int r = 0; r < rows; r++, xr += xstep, wr += wstep) {
        const int8_t *x = xr, *w = wr;
        for (int k = 0; k < cols; k++, x += C, w += C) {
#if TF_DSP
            uint32_t xv = rd32(x), wv = rd32(w);
            int32_t xl = sx02(xv), wl = sx02(wv);
            if (off) xl = (int32_t)__sadd16(xl, offs);
            a0 = __smlabb(xl, wl, a0);
            a2 = __smlatt(xl, wl, a2);
            xl = sx13(xv);
            wl = sx13(wv);
            if (off) xl = (int32_t)__sadd16(xl, offs);
            a1 = __smlabb(xl, wl, a1);
            a3 = __smlatt(xl, wl, a3);
#else
            a0 += (x[0] + off) * w[0];
            a1 += (x[1] + off) * w[1];
            a2 += (x[2] + off) * w[2];
            a3 += (x[3] + off) * w[3];
#endif
        }
    }
    acc[0] = a0; acc[1] = a1; acc[2] = a2; acc[3] = a3;
}

/* depth_mult == 1, no dilation, not in place. Channels go in blocks whose folded
 * biases (bias + off * sum of all taps) sit in a small stack buffer: pixels whose
 * window lies inside the input multiply raw int8 values; border pixels add the
 * offset to each valid tap instead. Four channels accumulate in registers. */
static void dw_fast(const tf_dw_params *p, const int8_t *in, const int8_t *filter,
                    const int32_t *bias, const int32_t *mult, const int8_t *shift, int8_t *out)
{
    const int C = p->in_c;
    const int32_t off = p->in_offset;
    const size_t xstep = (size_t)p->in_w * C, wstep = (size_t)p->k_w * C;
    const int k3x3 = p->k_h == 3 && p->k_w == 3;
    const tf_act act = {p->out_offset, p->act_min, p->act_max};
    /* per block: folded biases and the channels' requantization, split once */
    int32_t folded[TF_DW_BLOCK], rq_mult[TF_DW_BLOCK];
    uint8_t rq_right[TF_DW_BLOCK];
    for (int b = 0; b < p->batches; b++) {
        const int8_t *in_b = in + (size_t)b * p->in_h * p->in_w * C;
        int8_t *out_b = out + (size_t)b * p->out_h * p->out_w * C;
        for (int c0 = 0; c0 < C; c0 += TF_DW_BLOCK) {
            const int cn = C - c0 < TF_DW_BLOCK ? C - c0 : TF_DW_BLOCK;
            int fast = 1;
            for (int c = 0; c < cn; c++) {
                int32_t s = 0;
                for (int t = 0; t < p->k_h * p->k_w; t++) s += filter[(size_t)t * C + c0 + c];
                folded[c] = (bias ? bias[c0 + c] : 0) + off * s;
                rq_mult[c] = mult[c0 + c];
                rq_right[c] = rq_entry(mult[c0 + c], shift[c0 + c]);
                fast &= rq_right[c] != 0;
            }
            for (int oy = 0; oy < p->out_h; oy++) {
                const int y0 = oy * p->stride_h - p->pad_h;
                int ky_lo, ky_hi;
                tap_range(y0, p->k_h, 1, p->in_h, &ky_lo, &ky_hi);
                for (int ox = 0; ox < p->out_w; ox++) {
                    const int x0 = ox * p->stride_w - p->pad_w;
                    int kx_lo, kx_hi;
                    tap_range(x0, p->k_w, 1, p->in_w, &kx_lo, &kx_hi);
                    const int full = ky_lo == 0 && ky_hi == p->k_h && kx_lo == 0 && kx_hi == p->k_w;
                    const int rows = ky_hi - ky_lo;
                    const int cols = kx_hi - kx_lo;
                    const size_t span = (size_t)cols * C;
                    const size_t x_at = ((size_t)(y0 + ky_lo) * p->in_w + x0 + kx_lo) * C;
                    const size_t w_at = ((size_t)ky_lo * p->k_w + kx_lo) * C;
                    int8_t *o = out_b + ((size_t)oy * p->out_w + ox) * C + c0;
                    int c = 0;
                    for (; c + 4 <= cn; c += 4) {
                        const int cc = c0 + c;
                        int32_t acc[4];
                        if (full) {
                            acc[0] = folded[c]; acc[1] = folded[c + 1];
                            acc[2] = folded[c + 2]; acc[3] = folded[c + 3];
                            if (k3x3)
                                dw_taps4(in_b + x_at + cc, filter + w_at + cc, 3, 3, C, xstep, wstep, 0, acc);
                            else
                                dw_taps4(in_b + x_at + cc, filter + w_at + cc, rows, cols, C, xstep, wstep, 0, acc);
                        } else {
                            for (int j = 0; j < 4; j++) acc[j] = bias ? bias[cc + j] : 0;
                            dw_taps4(in_b + x_at + cc, filter + w_at + cc, rows, cols, C, xstep, wstep, off, acc);
                        }
                        if (fast) {
                            for (int j = 0; j < 4; j++) {
                                const int r = rq_right[c + j];
                                o[c + j] = act_out(act, rq_fast(acc[j], rq_mult[c + j], 1 << (r - 1), r));
                            }
                        } else {
                            for (int j = 0; j < 4; j++)
                                o[c + j] = rq_exact(acc[j], mult[cc + j], shift[cc + j], &act);
                        }
                    }
                    for (; c < cn; c++) {
                        const int cc = c0 + c;
                        int32_t acc = bias ? bias[cc] : 0;
                        const int8_t *xr = in_b + x_at + cc, *wr = filter + w_at + cc;
                        for (int r = 0; r < rows; r++, xr += xstep, wr += wstep)
                            for (size_t k = 0; k < span; k += (size_t)C) acc += (xr[k] + off) * wr[k];
                        int32_t v = mbqm(acc, mult[cc], shift[cc]) + p->out_offset;
                        o[c] = (int8_t)clamp(v, p->act_min, p->act_max);
                    }
                }
            }
        }
    }
}

void tf_depthwise_conv2d_s8(const tf_dw_params *p, const int8_t *in, int8_t *out, int8_t *scratch)
{
    const int8_t *filter = p->filter;
    const int32_t *bias = p->bias, *mult = p->mult;
    const int8_t *shift = p->shift;
    const int in_c = p->in_c, out_c = p->out_c, dm = p->depth_mult;
    const size_t pixels = (size_t)p->out_h * p->out_w;
    if (out == in && scratch && dm == 1) {
        /* In place (MCUNet): a whole output channel goes to scratch first; writing it back
         * only overwrites input values of that same channel, which are no longer needed. */
        for (int b = 0; b < p->batches; b++) {
            int8_t *ob = out + (size_t)b * pixels * out_c;
            for (int c = 0; c < in_c; c++) {
                for (int oy = 0; oy < p->out_h; oy++)
                    for (int ox = 0; ox < p->out_w; ox++)
                        scratch[(size_t)oy * p->out_w + ox] =
                            dw_point(p, in, filter, bias, mult, shift, b, oy, ox, c, c);
                for (size_t px = 0; px < pixels; px++) ob[px * out_c + c] = scratch[px];
            }
        }
        return;
    }
    if (dm == 1 && p->dil_h == 1 && p->dil_w == 1) {
        dw_fast(p, in, filter, bias, mult, shift, out);
        return;
    }
    for (int b = 0; b < p->batches; b++)
        for (int oy = 0; oy < p->out_h; oy++)
            for (int ox = 0; ox < p->out_w; ox++) {
                int8_t *o = out + (((size_t)b * p->out_h + oy) * p->out_w + ox) * out_c;
                for (int ic = 0; ic < in_c; ic++)
                    for (int m = 0; m < dm; m++)
                        o[ic * dm + m] = dw_point(p, in, filter, bias, mult, shift, b, oy, ox, ic, ic * dm + m);
            }
}

/* ---- fully connected -------------------------------------------------- */

void tf_fully_connected_s8(const tf_fc_params *p, const int8_t *in, int8_t *out)
{
    const int8_t *filter = p->filter;
    const int32_t *bias = p->bias, *mult = p->mult;
    const int8_t *shift = p->shift;
    const int K = p->in_n, n_out = p->out_n, pc = p->per_channel ? 1 : 0;
    for (int b = 0; b < p->batches; b++) {
        const int8_t *x = in + (size_t)b * K;
        int8_t *o = out + (size_t)b * n_out;
        int r = 0;
        for (; r + 2 <= n_out; r += 2) {
            const int8_t *w0 = filter + (size_t)r * K;
            int32_t a0 = bias ? bias[r] : 0, a1 = bias ? bias[r + 1] : 0;
            dot_1x2(x, w0, w0 + K, K, &a0, &a1);
            o[r] = (int8_t)clamp(mbqm(a0, mult[r * pc], shift[r * pc]) + p->out_offset,
                                 p->act_min, p->act_max);
            o[r + 1] = (int8_t)clamp(mbqm(a1, mult[(r + 1) * pc], shift[(r + 1) * pc]) + p->out_offset,
                                     p->act_min, p->act_max);
        }
        if (r < n_out) {
            int32_t a = dot_1x1(x, filter + (size_t)r * K, K, bias ? bias[r] : 0);
            o[r] = (int8_t)clamp(mbqm(a, mult[r * pc], shift[r * pc]) + p->out_offset,
                                 p->act_min, p->act_max);
        }
    }
}

/* ---- compressed filters: packed int4 / int2 --------------------------- */

void tf_conv2d_packed(const tf_conv_params *p, const int8_t *in, const int8_t *skip, int8_t *out,
                      int8_t *scratch)
{
    conv_blocks(p, in, p->add ? skip : NULL, out, scratch, p->wbits == 4 ? block_dot_p4 : block_dot_p2);
}

TF_INLINE void dw_packed(const tf_dw_params *p, const int8_t *in, int8_t *out, int bits)
{
    const uint8_t *w = (const uint8_t *)(const void *)p->filter;
    const int in_c = p->in_c, out_c = p->out_c, dm = p->depth_mult;
    for (int b = 0; b < p->batches; b++)
        for (int oy = 0; oy < p->out_h; oy++) {
            const int y0 = oy * p->stride_h - p->pad_h;
            int ky_lo, ky_hi;
            tap_range(y0, p->k_h, p->dil_h, p->in_h, &ky_lo, &ky_hi);
            for (int ox = 0; ox < p->out_w; ox++) {
                const int x0 = ox * p->stride_w - p->pad_w;
                int kx_lo, kx_hi;
                tap_range(x0, p->k_w, p->dil_w, p->in_w, &kx_lo, &kx_hi);
                int8_t *o = out + (((size_t)b * p->out_h + oy) * p->out_w + ox) * out_c;
                for (int ic = 0; ic < in_c; ic++)
                    for (int m = 0; m < dm; m++) {
                        const int oc = ic * dm + m;
                        int32_t acc = p->bias ? p->bias[oc] : 0;
                        for (int ky = ky_lo; ky < ky_hi; ky++) {
                            const int iy = y0 + ky * p->dil_h;
                            const int8_t *row = in + ((size_t)b * p->in_h + iy) * p->in_w * in_c + ic;
                            for (int kx = kx_lo; kx < kx_hi; kx++) {
                                const int ix = x0 + kx * p->dil_w;
                                const size_t wi = ((size_t)ky * p->k_w + kx) * out_c + oc;
                                acc += (row[(size_t)ix * in_c] + p->in_offset) * pw_get(w, wi, bits);
                            }
                        }
                        const int32_t v = mbqm(acc, p->mult[oc], p->shift[oc]) + p->out_offset;
                        o[oc] = (int8_t)clamp(v, p->act_min, p->act_max);
                    }
            }
        }
}

/* depth_mult 1 with whole bytes per tap row (C a multiple of 8 / bits): taps outer,
 * channels inner, so each packed byte is decoded once per tap into its 2 or 4
 * weights; the accumulators of a block of channels live on the stack. */
TF_INLINE void dw_packed_rows(const tf_dw_params *p, const int8_t *in, int8_t *out, int bits)
{
    const uint8_t *w = (const uint8_t *)(const void *)p->filter;
    const int C = p->in_c, per = 8 / bits;
    const int32_t off = p->in_offset;
    int32_t acc[TF_DW_BLOCK];
    for (int b = 0; b < p->batches; b++)
        for (int oy = 0; oy < p->out_h; oy++) {
            const int y0 = oy * p->stride_h - p->pad_h;
            int ky_lo, ky_hi;
            tap_range(y0, p->k_h, p->dil_h, p->in_h, &ky_lo, &ky_hi);
            for (int ox = 0; ox < p->out_w; ox++) {
                const int x0 = ox * p->stride_w - p->pad_w;
                int kx_lo, kx_hi;
                tap_range(x0, p->k_w, p->dil_w, p->in_w, &kx_lo, &kx_hi);
                int8_t *o = out + (((size_t)b * p->out_h + oy) * p->out_w + ox) * C;
                for (int c0 = 0; c0 < C; c0 += TF_DW_BLOCK) {
                    const int cn = C - c0 < TF_DW_BLOCK ? C - c0 : TF_DW_BLOCK;
                    for (int c = 0; c < cn; c++) acc[c] = p->bias ? p->bias[c0 + c] : 0;
                    for (int ky = ky_lo; ky < ky_hi; ky++) {
                        const int iy = y0 + ky * p->dil_h;
                        for (int kx = kx_lo; kx < kx_hi; kx++) {
                            const int ix = x0 + kx * p->dil_w;
                            const int8_t *x = in + (((size_t)b * p->in_h + iy) * p->in_w + ix) * C + c0;
                            const uint8_t *q = w + (((size_t)ky * p->k_w + kx) * C + c0) / per;
                            for (int c = 0; c < cn; c += per, q++) {
                                const uint32_t byte = *q;
                                for (int j = 0; j < per; j++) {
                                    const uint32_t f = bits == 4 ? (byte >> (4 * j)) & 0xFu
                                                                 : (byte >> (2 * j)) & 3u;
                                    const int32_t wv = bits == 4 ? (int32_t)(f ^ 8u) - 8
                                                                 : (int32_t)(f ^ 2u) - 2;
                                    acc[c + j] += (x[c + j] + off) * wv;
                                }
                            }
                        }
                    }
                    for (int c = 0; c < cn; c++) {
                        const int32_t v = mbqm(acc[c], p->mult[c0 + c], p->shift[c0 + c]) + p->out_offset;
                        o[c0 + c] = (int8_t)clamp(v, p->act_min, p->act_max);
                    }
                }
            }
        }
}

void tf_depthwise_conv2d_packed(const tf_dw_params *p, const int8_t *in, int8_t *out)
{
    const int per = p->wbits == 4 ? 2 : 4;
    if (p->depth_mult == 1 && p->in_c % per == 0 && TF_DW_BLOCK % per == 0) {
        if (p->wbits == 4) dw_packed_rows(p, in, out, 4);
        else dw_packed_rows(p, in, out, 2);
        return;
    }
    if (p->wbits == 4) dw_packed(p, in, out, 4);
    else dw_packed(p, in, out, 2);
}

TF_INLINE void fc_packed(const tf_fc_params *p, const int8_t *in, int8_t *out, int bits)
{
    const uint8_t *w = (const uint8_t *)(const void *)p->filter;
    const int K = p->in_n, n_out = p->out_n, pc = p->per_channel ? 1 : 0;
    for (int b = 0; b < p->batches; b++) {
        const int8_t *x = in + (size_t)b * K;
        int8_t *o = out + (size_t)b * n_out;
        for (int r = 0; r < n_out; r++) {
            int32_t a = p->bias ? p->bias[r] : 0;
            pdot(x, NULL, w, (size_t)r * K, K, bits, &a, NULL);
            o[r] = (int8_t)clamp(mbqm(a, p->mult[r * pc], p->shift[r * pc]) + p->out_offset,
                                 p->act_min, p->act_max);
        }
    }
}

void tf_fully_connected_packed(const tf_fc_params *p, const int8_t *in, int8_t *out)
{
    if (p->wbits == 4) fc_packed(p, in, out, 4);
    else fc_packed(p, in, out, 2);
}

/* ---- compressed filters: TFSR2 sparse blobs ---------------------------- */

/* A TFSR2 blob (crates/kernels/src/sparse/format.rs) starts with a 4-byte header:
 * layout (1 = row bitmaps, 2 = gap stream), block size (1 or 4), 0, 0. Kernels
 * read layout and block from the header, so `filter` is the blob as emitted. */
#define TF_TFSR2_BITMAP 1
#define TF_TFSR2_GAPS 2

/* Sequential reader of a gap body: `next` is the position (row * nb + block) of the
 * next stored block, UINT32_MAX once all were read. Walking the stream in order is
 * all any kernel needs: rows are visited in order in every pass. */
typedef struct {
    const int8_t *v;
    const uint8_t *codes;
    uint32_t c, left, next;
} tf_gaps;

/* pos plus the gap code at nibble *c (low nibble first), summed through its 15s
 * (escapes); advances *c past it. */
TF_INLINE uint32_t gap_add(const uint8_t *codes, uint32_t *c, uint32_t pos)
{
    uint32_t code;
    do {
        const uint32_t byte = codes[*c >> 1];
        code = (*c & 1u) ? byte >> 4 : byte & 15u;
        ++*c;
        pos += code;
    } while (code == 15u);
    return pos;
}

/* The position of the stored block after `next`, UINT32_MAX once *left (the blocks
 * not yet consumed, counting `next`) runs out; for loops that keep the reader's state
 * in locals. */
TF_INLINE uint32_t gap_step(const uint8_t *codes, uint32_t *c, uint32_t *left, uint32_t next)
{
    return --*left ? gap_add(codes, c, next + 1u) : UINT32_MAX;
}

TF_INLINE void gaps_store(tf_gaps *g, const int8_t *v, uint32_t c, uint32_t left, uint32_t next)
{
    g->v = v;
    g->c = c;
    g->left = left;
    g->next = next;
}

TF_INLINE void gaps_advance(tf_gaps *g, uint32_t cur)
{
    g->next = g->left ? gap_add(g->codes, &g->c, cur) : UINT32_MAX;
}

TF_INLINE void gaps_start(tf_gaps *g, const uint8_t *blob, int block)
{
    const uint32_t stored = (uint32_t)blob[4] | (uint32_t)blob[5] << 8 | (uint32_t)blob[6] << 16 |
                            (uint32_t)blob[7] << 24;
    g->v = (const int8_t *)(const void *)(blob + 8);
    g->codes = blob + 8 + (size_t)block * stored;
    g->c = 0;
    g->left = stored;
    gaps_advance(g, 0);
}

/* Consumes the stored block at g->next; returns its values. */
TF_INLINE const int8_t *gaps_take(tf_gaps *g, int block)
{
    const int8_t *v = g->v;
    g->v += block;
    g->left--;
    gaps_advance(g, g->next + 1u);
    return v;
}

/* acc[t] += dot(a[t], row) for the stored blocks of the row that covers positions
 * [row0, row0 + nb) of a gap body, n (1..4) patches. */
TF_INLINE void gdot(const int8_t *const a[4], int n, tf_gaps *g, uint32_t row0, int nb, int K,
                    int block, int32_t acc[4])
{
    int32_t s0 = acc[0], s1 = acc[1], s2 = acc[2], s3 = acc[3];
    const int8_t *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3];
    const uint32_t end = row0 + (uint32_t)nb;
    /* the reader's state in locals: the loop below is the whole inner loop */
    const int8_t *v = g->v;
    const uint8_t *codes = g->codes;
    uint32_t c = g->c, left = g->left, next = g->next;
    while (next < end) {
        const int j = (int)(next - row0) * block;
        if (block == 1) {
            const int32_t wv = *v;
            s0 += a0[j] * wv;
            if (n > 1) s1 += a1[j] * wv;
            if (n > 2) s2 += a2[j] * wv;
            if (n > 3) s3 += a3[j] * wv;
        } else {
            for (int e = 0; e < 4 && j + e < K; e++) {
                const int32_t wv = v[e];
                s0 += a0[j + e] * wv;
                if (n > 1) s1 += a1[j + e] * wv;
                if (n > 2) s2 += a2[j + e] * wv;
                if (n > 3) s3 += a3[j + e] * wv;
            }
        }
        v += block;
        next = gap_step(codes, &c, &left, next);
    }
    gaps_store(g, v, c, left, next);
    acc[0] = s0; acc[1] = s1; acc[2] = s2; acc[3] = s3;
}

#if defined(__GNUC__) || defined(__clang__)
#define TF_CTZ(x) __builtin_ctz(x)
#else
static int tf_ctz(uint32_t x)
{
    int n = 0;
    while (!(x & 1u)) { x >>= 1; n++; }
    return n;
}
#define TF_CTZ(x) tf_ctz(x)
#endif

/* acc[t] += dot(a[t], row) for the n (1..4) patches a[] and one encoded row of K
 * weights with `bm` bitmap bytes; returns the start of the next row. Each set
 * bit is found once and serves all n patches, so the bitmap walk is shared. */
TF_INLINE const uint8_t *sdot(const int8_t *const a[4], int n, const uint8_t *row, int K, int bm,
                              int block, int32_t acc[4])
{
    const int8_t *v = (const int8_t *)(const void *)(row + bm);
    int32_t s0 = acc[0], s1 = acc[1], s2 = acc[2], s3 = acc[3];
    const int8_t *a0 = a[0], *a1 = a[1], *a2 = a[2], *a3 = a[3];
    for (int i = 0; i < bm; i++) {
        uint32_t bits = row[i];
        if (block == 1) {
            const int base = 8 * i;
            while (bits) {
                const int j = base + TF_CTZ(bits);
                const int32_t wv = *v++;
                bits &= bits - 1u;
                s0 += a0[j] * wv;
                if (n > 1) s1 += a1[j] * wv;
                if (n > 2) s2 += a2[j] * wv;
                if (n > 3) s3 += a3[j] * wv;
            }
        } else {
            while (bits) {
                const int j = (8 * i + TF_CTZ(bits)) * 4;
                bits &= bits - 1u;
                if (j + 4 <= K) {
#if TF_DSP
                    const uint32_t wv = rd32(v);
                    const int32_t wl = sx02(wv), wh = sx13(wv);
                    uint32_t x = rd32(a0 + j);
                    s0 = __smlad(sx13(x), wh, __smlad(sx02(x), wl, s0));
                    if (n > 1) {
                        x = rd32(a1 + j);
                        s1 = __smlad(sx13(x), wh, __smlad(sx02(x), wl, s1));
                    }
                    if (n > 2) {
                        x = rd32(a2 + j);
                        s2 = __smlad(sx13(x), wh, __smlad(sx02(x), wl, s2));
                    }
                    if (n > 3) {
                        x = rd32(a3 + j);
                        s3 = __smlad(sx13(x), wh, __smlad(sx02(x), wl, s3));
                    }
#else
                    for (int e = 0; e < 4; e++) {
                        s0 += a0[j + e] * v[e];
                        if (n > 1) s1 += a1[j + e] * v[e];
                        if (n > 2) s2 += a2[j + e] * v[e];
                        if (n > 3) s3 += a3[j + e] * v[e];
                    }
#endif
                } else {
                    /* the zero-padded last block: values past K are ignored */
                    for (int e = 0; j + e < K; e++) {
                        s0 += a0[j + e] * v[e];
                        if (n > 1) s1 += a1[j + e] * v[e];
                        if (n > 2) s2 += a2[j + e] * v[e];
                        if (n > 3) s3 += a3[j + e] * v[e];
                    }
                }
                v += 4;
            }
        }
    }
    acc[0] = s0; acc[1] = s1; acc[2] = s2; acc[3] = s3;
    return (const uint8_t *)(const void *)v;
}

/* The four patches of a block-1 pass interleaved: tile[4k + t] = value k of patch t,
 * so one word load fetches input k of all four output pixels and the walk of the
 * encoding needs one pointer instead of four (which would not stay in registers).
 * A short tail repeats its last pixel. */
TF_NO_LIBCALLS static void conv_tile4(const tf_conv_params *p, const int8_t *in, int b, int px,
                                      int n, int8_t *tile)
{
    const int in_c = p->in_c;
    const int8_t pad_val = (int8_t)(-p->in_offset);
    for (int t = 0; t < 4; t++) {
        const int q = px + (t < n ? t : n - 1), oy = q / p->out_w, ox = q % p->out_w;
        int8_t *d = tile + t;
        for (int ky = 0; ky < p->k_h; ky++) {
            const int iy = oy * p->stride_h - p->pad_h + ky * p->dil_h;
            for (int kx = 0; kx < p->k_w; kx++) {
                const int ix = ox * p->stride_w - p->pad_w + kx * p->dil_w;
                if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                    for (int k = 0; k < in_c; k++, d += 4) *d = pad_val;
                } else {
                    const int8_t *src = in + (((size_t)b * p->in_h + iy) * p->in_w + ix) * in_c;
                    for (int k = 0; k < in_c; k++, d += 4) *d = src[k];
                }
            }
        }
    }
}

/* acc[t] += w * tile[4j + t] for t = 0..3. */
TF_INLINE void tile_mac(const int8_t *x, int32_t w, int32_t *s0, int32_t *s1, int32_t *s2,
                        int32_t *s3)
{
#if TF_DSP
    const uint32_t v = rd32(x);
    const int32_t lo = sx02(v), hi = sx13(v);
    *s0 = __smlabb(lo, w, *s0);
    *s2 = __smlatb(lo, w, *s2);
    *s1 = __smlabb(hi, w, *s1);
    *s3 = __smlatb(hi, w, *s3);
#else
    *s0 += x[0] * w;
    *s1 += x[1] * w;
    *s2 += x[2] * w;
    *s3 += x[3] * w;
#endif
}

/* acc[t] += dot(patch t, row) for one block-1 bitmap row of `bm` bytes over a tile;
 * returns the start of the next row. */
TF_INLINE const uint8_t *sdot_tile(const int8_t *tile, const uint8_t *row, int bm, int32_t acc[4])
{
    const int8_t *v = (const int8_t *)(const void *)(row + bm);
    int32_t s0 = acc[0], s1 = acc[1], s2 = acc[2], s3 = acc[3];
    for (int i = 0; i < bm; i++, tile += 32) {
        uint32_t bits = row[i];
        while (bits) {
            const int j = TF_CTZ(bits);
            bits &= bits - 1u;
            tile_mac(tile + 4 * j, *v++, &s0, &s1, &s2, &s3);
        }
    }
    acc[0] = s0; acc[1] = s1; acc[2] = s2; acc[3] = s3;
    return (const uint8_t *)(const void *)v;
}

/* acc[t] += dot(patch t, row) for the stored weights of the gap-body row covering
 * positions [row0, row0 + K) (block 1) over a tile. */
TF_INLINE void gdot_tile(const int8_t *tile, tf_gaps *g, uint32_t row0, int K, int32_t acc[4])
{
    int32_t s0 = acc[0], s1 = acc[1], s2 = acc[2], s3 = acc[3];
    const uint32_t end = row0 + (uint32_t)K;
    const int8_t *v = g->v;
    const uint8_t *codes = g->codes;
    const int8_t *base = tile - 4 * (intptr_t)row0;
    uint32_t c = g->c, left = g->left, next = g->next;
    while (next < end) {
        tile_mac(base + 4 * (intptr_t)next, *v++, &s0, &s1, &s2, &s3);
        next = gap_step(codes, &c, &left, next);
    }
    gaps_store(g, v, c, left, next);
    acc[0] = s0; acc[1] = s1; acc[2] = s2; acc[3] = s3;
}

/* conv_sparse's outputs with a fused add; out of line to keep the walk's registers
 * free. */
static TF_NOINLINE void conv_sparse_exact(const tf_conv_params *p, int32_t (*acc)[4], int cn,
                                          int n, int oc0, int8_t *o, const int8_t *skip)
{
    const tf_act act = conv_act(p);
    for (int c = 0; c < cn; c++) {
        const tf_rq q = rq_of(p->mult[oc0 + c], p->shift[oc0 + c]);
        for (int t = 0; t < n; t++) {
            const size_t i = (size_t)t * p->out_c + (size_t)c;
            o[i] = conv_out(p, act, q, acc[c][t], skip ? skip + i : NULL);
        }
    }
}

/* Where a walk of the encoding stands: the next bitmap row, or the gap reader. */
typedef struct {
    const uint8_t *row;
    tf_gaps g;
} tf_walk;

/* Four output pixels per pass over the encoding, in blocks of output channels: each
 * block's requantization is split once into a table (as conv_blocks), and every pass
 * over the block restarts the walk where the block's rows begin. Block 1 walks a tile
 * of the four patches; block 4 multiplies four contiguous inputs per stored block
 * with SMLAD, so it keeps the patches apart. Four lanes are always computed (a short
 * tail repeats its last patch) so one copy of each loop exists. */
TF_INLINE void conv_sparse(const tf_conv_params *p, const int8_t *in, const int8_t *skip,
                           int8_t *out, int8_t *scratch, int block)
{
    const int K = p->k_h * p->k_w * p->in_c;
    const int nb = (K + block - 1) / block, bm = (nb + 7) / 8;
    const int oc_n = p->out_c;
    const int pixels = p->out_h * p->out_w;
    const tf_act act = conv_act(p);
    const uint8_t *blob = (const uint8_t *)(const void *)p->filter;
    const int gaps = blob[0] == TF_TFSR2_GAPS;
    int32_t acc[TF_OC_BLOCK][4], rq_mult[TF_OC_BLOCK];
    uint8_t rq_right[TF_OC_BLOCK];
    const int8_t *a[4];
    tf_walk start = {blob + 4, {NULL, NULL, 0, 0, UINT32_MAX}};
    if (gaps) gaps_start(&start.g, blob, block);
    if (!p->add) skip = NULL;
    for (int oc0 = 0; oc0 < oc_n; oc0 += TF_OC_BLOCK) {
        const int cn = oc_n - oc0 < TF_OC_BLOCK ? oc_n - oc0 : TF_OC_BLOCK;
        for (int c = 0; c < cn; c++) {
            rq_mult[c] = p->mult[oc0 + c];
            rq_right[c] = rq_entry(p->mult[oc0 + c], p->shift[oc0 + c]);
        }
        tf_walk w = start;
        for (int b = 0; b < p->batches; b++)
            for (int px = 0; px < pixels; px += 4) {
                const int n = pixels - px < 4 ? pixels - px : 4;
                if (block == 1) {
                    conv_tile4(p, in, b, px, n, scratch);
                } else {
                    for (int t = 0; t < 4; t++)
                        a[t] = t < n ? conv_patch(p, in, b, (px + t) / p->out_w, (px + t) % p->out_w,
                                                  scratch ? scratch + (size_t)t * K : NULL)
                                     : a[t - 1];
                }
                w = start;
                for (int c = 0; c < cn; c++) {
                    const int oc = oc0 + c;
                    int32_t s[4] = {p->bias[oc], p->bias[oc], p->bias[oc], p->bias[oc]};
                    if (block == 1) {
                        if (gaps) gdot_tile(scratch, &w.g, (uint32_t)oc * (uint32_t)K, K, s);
                        else w.row = sdot_tile(scratch, w.row, bm, s);
                    } else {
                        if (gaps) gdot(a, 4, &w.g, (uint32_t)oc * (uint32_t)nb, nb, K, block, s);
                        else w.row = sdot(a, 4, w.row, K, bm, block, s);
                    }
                    acc[c][0] = s[0];
                    acc[c][1] = s[1];
                    acc[c][2] = s[2];
                    acc[c][3] = s[3];
                }
                const size_t at = ((size_t)b * pixels + (size_t)px) * oc_n + (size_t)oc0;
                int8_t *o = out + at;
                if (!skip) {
                    for (int c = 0; c < cn; c++) {
                        const int32_t m = rq_mult[c];
                        const int r = rq_right[c];
                        if (!r) {
                            for (int t = 0; t < n; t++)
                                o[(size_t)t * oc_n + c] = rq_exact(acc[c][t], m, p->shift[oc0 + c], &act);
                            continue;
                        }
                        const int32_t half = 1 << (r - 1);
                        for (int t = 0; t < n; t++)
                            o[(size_t)t * oc_n + c] = act_out(act, rq_fast(acc[c][t], m, half, r));
                    }
                } else {
                    conv_sparse_exact(p, acc, cn, n, oc0, o, skip ? skip + at : NULL);
                }
            }
        start = w;
    }
}

void tf_conv2d_sparse(const tf_conv_params *p, const int8_t *in, const int8_t *skip, int8_t *out,
                      int8_t *scratch)
{
    if (((const uint8_t *)(const void *)p->filter)[1] == 4) conv_sparse(p, in, skip, out, scratch, 4);
    else conv_sparse(p, in, skip, out, scratch, 1);
}

/* One pass over the encoding per sample (fully-connected layers run one sample). */
TF_INLINE void fc_sparse(const tf_fc_params *p, const int8_t *in, int8_t *out, int block)
{
    const int K = p->in_n, n_out = p->out_n, pc = p->per_channel ? 1 : 0;
    const int bm = ((K + block - 1) / block + 7) / 8, nb = (K + block - 1) / block;
    const uint8_t *blob = (const uint8_t *)(const void *)p->filter;
    const int gaps = blob[0] == TF_TFSR2_GAPS;
    for (int b = 0; b < p->batches; b++) {
        const int8_t *a[4] = {in + (size_t)b * K, NULL, NULL, NULL};
        const uint8_t *row = blob + 4;
        tf_gaps g = {NULL, NULL, 0, 0, UINT32_MAX};
        if (gaps) gaps_start(&g, blob, block);
        for (int r = 0; r < n_out; r++) {
            int32_t acc[4] = {p->bias ? p->bias[r] : 0, 0, 0, 0};
            if (gaps) gdot(a, 1, &g, (uint32_t)r * (uint32_t)nb, nb, K, block, acc);
            else row = sdot(a, 1, row, K, bm, block, acc);
            out[(size_t)b * n_out + r] = (int8_t)clamp(
                mbqm(acc[0], p->mult[r * pc], p->shift[r * pc]) + p->out_offset, p->act_min, p->act_max);
        }
    }
}

void tf_fully_connected_sparse(const tf_fc_params *p, const int8_t *in, int8_t *out)
{
    if (((const uint8_t *)(const void *)p->filter)[1] == 4) fc_sparse(p, in, out, 4);
    else fc_sparse(p, in, out, 1);
}

/* Adds the taps of one stored block (taps j .. j + block - 1 of channel oc) that fall
 * inside the input; bias is not folded for depthwise (border taps are skipped). */
TF_INLINE int32_t dw_block(const tf_dw_params *p, const int8_t *in, int b, int y0, int x0, int ic,
                           int j, const int8_t *v, int block, int32_t acc)
{
    const int taps = p->k_h * p->k_w;
    for (int e = 0; e < block && j + e < taps; e++) {
        const int32_t wv = v[e];
        const int t = j + e, ky = t / p->k_w, kx = t % p->k_w;
        const int iy = y0 + ky * p->dil_h, ix = x0 + kx * p->dil_w;
        if (wv && iy >= 0 && ix >= 0 && iy < p->in_h && ix < p->in_w)
            acc += (in[(((size_t)b * p->in_h + iy) * p->in_w + ix) * p->in_c + ic] + p->in_offset) * wv;
    }
    return acc;
}

/* One walk of the blob (rows = output channels' taps) per output pixel. Not for the
 * in-place plan: deploy keeps in-place depthwise filters dense. */
TF_INLINE void dw_sparse(const tf_dw_params *p, const int8_t *in, int8_t *out, int block)
{
    const uint8_t *blob = (const uint8_t *)(const void *)p->filter;
    const int gaps = blob[0] == TF_TFSR2_GAPS, out_c = p->out_c, dm = p->depth_mult;
    const int nb = (p->k_h * p->k_w + block - 1) / block, bm = (nb + 7) / 8;
    for (int b = 0; b < p->batches; b++)
        for (int oy = 0; oy < p->out_h; oy++)
            for (int ox = 0; ox < p->out_w; ox++) {
                const int y0 = oy * p->stride_h - p->pad_h, x0 = ox * p->stride_w - p->pad_w;
                int8_t *o = out + (((size_t)b * p->out_h + oy) * p->out_w + ox) * out_c;
                const uint8_t *row = blob + 4;
                tf_gaps g = {NULL, NULL, 0, 0, UINT32_MAX};
                if (gaps) gaps_start(&g, blob, block);
                for (int oc = 0; oc < out_c; oc++) {
                    const int ic = oc / dm;
                    int32_t acc = p->bias ? p->bias[oc] : 0;
                    if (gaps) {
                        const uint32_t row0 = (uint32_t)oc * (uint32_t)nb, end = row0 + (uint32_t)nb;
                        while (g.next < end) {
                            const int j = (int)(g.next - row0) * block;
                            acc = dw_block(p, in, b, y0, x0, ic, j, gaps_take(&g, block), block, acc);
                        }
                    } else {
                        const int8_t *v = (const int8_t *)(const void *)(row + bm);
                        for (int i = 0; i < bm; i++) {
                            uint32_t bits = row[i];
                            while (bits) {
                                const int j = (8 * i + TF_CTZ(bits)) * block;
                                bits &= bits - 1u;
                                acc = dw_block(p, in, b, y0, x0, ic, j, v, block, acc);
                                v += block;
                            }
                        }
                        row = (const uint8_t *)(const void *)v;
                    }
                    const int32_t r = mbqm(acc, p->mult[oc], p->shift[oc]) + p->out_offset;
                    o[oc] = (int8_t)clamp(r, p->act_min, p->act_max);
                }
            }
}

void tf_depthwise_conv2d_sparse(const tf_dw_params *p, const int8_t *in, int8_t *out)
{
    if (((const uint8_t *)(const void *)p->filter)[1] == 4) dw_sparse(p, in, out, 4);
    else dw_sparse(p, in, out, 1);
}

/* ---- pooling ---------------------------------------------------------- */

#define TF_POOL_BLOCK 64

/* Window outer, channels inner: each tap row is a run of contiguous channels, so the
 * window bounds and addressing are worked out once per output pixel instead of per
 * value. A block of channels accumulates on the stack. */
TF_INLINE void pool(const tf_pool_params *p, const int8_t *in, int8_t *out, int is_max)
{
    const int C = p->c;
    const int32_t lo = p->act_min, hi = p->act_max;
    int32_t acc[TF_POOL_BLOCK];
    for (int b = 0; b < p->batches; b++)
        for (int oy = 0; oy < p->out_h; oy++)
            for (int ox = 0; ox < p->out_w; ox++) {
                const int y0 = oy * p->stride_h - p->pad_h, x0 = ox * p->stride_w - p->pad_w;
                const int fy_lo = y0 < 0 ? -y0 : 0, fx_lo = x0 < 0 ? -x0 : 0;
                const int fy_hi = p->f_h < p->in_h - y0 ? p->f_h : p->in_h - y0;
                const int fx_hi = p->f_w < p->in_w - x0 ? p->f_w : p->in_w - x0;
                const int rows = fy_hi > fy_lo ? fy_hi - fy_lo : 0;
                const int cols = fx_hi > fx_lo ? fx_hi - fx_lo : 0;
                const int32_t count = rows * cols;
                const int8_t *win = in + (((size_t)b * p->in_h + (size_t)(y0 + fy_lo)) * p->in_w +
                                          (size_t)(x0 + fx_lo)) * C;
                int8_t *o = out + (((size_t)b * p->out_h + oy) * p->out_w + ox) * C;
                for (int c0 = 0; c0 < C; c0 += TF_POOL_BLOCK) {
                    const int cn = C - c0 < TF_POOL_BLOCK ? C - c0 : TF_POOL_BLOCK;
                    for (int c = 0; c < cn; c++) acc[c] = is_max ? -128 : 0;
                    for (int fy = 0; fy < rows; fy++)
                        for (int fx = 0; fx < cols; fx++) {
                            const int8_t *x = win + ((size_t)fy * p->in_w + (size_t)fx) * C + c0;
                            for (int c = 0; c < cn; c++) {
                                if (is_max) acc[c] = x[c] > acc[c] ? x[c] : acc[c];
                                else acc[c] += x[c];
                            }
                        }
                    for (int c = 0; c < cn; c++) {
                        int32_t v = acc[c];
                        if (!is_max && count > 0)
                            v = v > 0 ? (v + count / 2) / count : (v - count / 2) / count;
                        o[c0 + c] = (int8_t)clamp(v, lo, hi);
                    }
                }
            }
}

void tf_avg_pool_s8(const tf_pool_params *p, const int8_t *in, int8_t *out) { pool(p, in, out, 0); }
void tf_max_pool_s8(const tf_pool_params *p, const int8_t *in, int8_t *out) { pool(p, in, out, 1); }

/* ---- softmax (gemmlowp fixed point, as TFLite's reference int8 softmax) - */

/* exp(x) for x in [-1/4, 0), Q0.31 in and out */
TF_COLD static int32_t exp_quarter(int32_t a)
{
    const int32_t constant_term = 1895147668;    /* exp(-1/8) */
    const int32_t constant_1_over_3 = 715827883; /* 1/3 */
    int32_t x = a + (1 << 28);                   /* a + 1/8 */
    int32_t x2 = srdhm(x, x);
    int32_t x3 = srdhm(x2, x);
    int32_t x4 = srdhm(x2, x2);
    int32_t x4_over_4 = rdbp(x4, 2);
    int32_t poly = rdbp(srdhm(x4_over_4 + x3, constant_1_over_3) + x2, 1);
    return constant_term + srdhm(constant_term, x + poly);
}

/* exp(a) for a <= 0 given in Q5.26; result in Q0.31 */
TF_COLD static int32_t exp_neg(int32_t a)
{
    const int32_t one_quarter = 1 << 24;
    int32_t a_mod = (a & (one_quarter - 1)) - one_quarter;
    int32_t result = exp_quarter(sat_shl(a_mod, 5));
    int32_t remainder = a_mod - a;
    static const int32_t mults[7] = {1672461947, 1302514674, 790015084, 290630308,
                                     39332535,   720401,     242};
    for (int i = 0; i < 7; i++)
        if (remainder & (1 << (24 + i))) result = srdhm(result, mults[i]);
    return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + x) for x in [0, 1), Q0.31 in and out (Newton-Raphson in Q2.29) */
TF_COLD static int32_t one_over_one_plus_x(int32_t a)
{
    int64_t sum = (int64_t)a + INT32_MAX;
    int32_t half_den = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    const int32_t c48_17 = 1515870810, cm32_17 = -1010580540;
    int32_t x = c48_17 + srdhm(half_den, cm32_17);
    for (int i = 0; i < 3; i++) {
        int32_t hdx = srdhm(half_den, x);
        int32_t one_minus = (1 << 29) - hdx;
        x = x + sat_shl(srdhm(x, one_minus), 2);
    }
    return sat_shl(x, 1);
}

TF_COLD void tf_softmax_s8(const tf_softmax_params *p, const int8_t *in, int8_t *out)
{
    const int depth = p->depth;
    for (uint32_t r = 0; r < p->rows; r++) {
        const int8_t *x = in + (size_t)r * depth;
        int8_t *o = out + (size_t)r * depth;
        int32_t max_v = -128;
        for (int c = 0; c < depth; c++) max_v = x[c] > max_v ? x[c] : max_v;
        int32_t sum = 0; /* Q12.19 */
        for (int c = 0; c < depth; c++) {
            int32_t diff = x[c] - max_v;
            if (diff >= p->diff_min) {
                int32_t scaled = srdhm(diff * (1 << p->in_left_shift), p->in_mult);
                sum += rdbp(exp_neg(scaled), 12);
            }
        }
        int headroom = sum == 0 ? 32 : __builtin_clz((uint32_t)sum);
        int bits_over_unit = 12 - headroom;
        int32_t shifted = (int32_t)(((uint32_t)sum << headroom) - (1u << 31));
        int32_t scale = one_over_one_plus_x(shifted);
        for (int c = 0; c < depth; c++) {
            int32_t diff = x[c] - max_v;
            int32_t v = -128;
            if (diff >= p->diff_min) {
                int32_t scaled = srdhm(diff * (1 << p->in_left_shift), p->in_mult);
                int32_t e = exp_neg(scaled);
                v = clamp(rdbp(srdhm(scale, e), bits_over_unit + 31 - 8) - 128, -128, 127);
            }
            o[c] = (int8_t)v;
        }
    }
}

TF_COLD void tf_mean_hw_s8(const tf_mean_params *p, const int8_t *in, int8_t *out)
{
    const int32_t n = (int32_t)p->h * p->w;
    for (int b = 0; b < p->batches; b++)
        for (int c = 0; c < p->c; c++) {
            const int8_t *x = in + (size_t)b * n * p->c + c;
            int32_t acc = 0;
            for (int32_t i = 0; i < n; i++) acc += x[(size_t)i * p->c];
            int64_t v = (int64_t)mbqm(acc - p->in_zp * n, p->mult, p->shift) + p->out_zp;
            out[(size_t)b * p->c + c] = (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v);
        }
}

void tf_concat_s8(int n_inputs, const int8_t *const *inputs, const uint32_t *inner, uint32_t outer,
                  int8_t *out)
{
    for (uint32_t k = 0; k < outer; k++)
        for (int i = 0; i < n_inputs; i++) {
            memcpy(out, inputs[i] + (size_t)k * inner[i], inner[i]);
            out += inner[i];
        }
}

TF_COLD void tf_pad_s8(const tf_pad_params *p, const int8_t *in, int8_t *out)
{
    int od[4];
    for (int k = 0; k < 4; k++) od[k] = p->in[k] + p->before[k] + p->after[k];
    size_t o = 0;
    for (int n = 0; n < od[0]; n++)
        for (int y = 0; y < od[1]; y++)
            for (int x = 0; x < od[2]; x++)
                for (int c = 0; c < od[3]; c++, o++) {
                    const int i0 = n - p->before[0], i1 = y - p->before[1];
                    const int i2 = x - p->before[2], i3 = c - p->before[3];
                    const int inside = i0 >= 0 && i0 < p->in[0] && i1 >= 0 && i1 < p->in[1] &&
                                       i2 >= 0 && i2 < p->in[2] && i3 >= 0 && i3 < p->in[3];
                    out[o] = inside ? in[(((size_t)i0 * p->in[1] + i1) * p->in[2] + i2) * p->in[3] + i3]
                                    : p->value;
                }
}

TF_COLD void tf_quantize_f32_s8(const float *in, int8_t *out, size_t n, float scale,
                                int32_t zero_point)
{
    for (size_t i = 0; i < n; i++) {
        float v = in[i] / scale;
        int32_t r = 0;
        if (v == v) { /* not NaN */
            /* beyond this the int8 result saturates anyway; keeps the cast defined */
            if (v > 1e6f) v = 1e6f;
            if (v < -1e6f) v = -1e6f;
            int32_t t = (int32_t)v; /* toward zero */
            float frac = v - (float)t; /* exact */
            r = t + (frac >= 0.5f ? 1 : 0) - (frac <= -0.5f ? 1 : 0);
        }
        out[i] = (int8_t)clamp(r + zero_point, -128, 127);
    }
}

void tf_dequantize_s8_f32(const float table[256], const int8_t *in, float *out, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = table[(uint8_t)in[i]];
}

void tf_lut_s8(const int8_t table[256], const int8_t *in, int8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = table[(uint8_t)in[i]];
}

void tf_copy(int8_t *dst, const int8_t *src, size_t n)
{
    if (dst != src) memmove(dst, src, n);
}
