/* tinyforge int8 kernels for microcontrollers (portable C99).
 *
 * Ports of the tinyforge-kernels Rust int8 kernels, bit-exact with them and
 * with the TFLite Micro reference kernels. Layout is NHWC; filters are
 * [out_c][kh][kw][in_c] (conv), [kh][kw][c] (depthwise), [out][in] (fully
 * connected), all int8 with zero point 0 (symmetric, as the TFLite spec says).
 *
 * Every parameter that TFLite Micro computes in Prepare (requantization
 * multipliers and shifts, offsets, activation ranges, padding) is computed by
 * the code generator and passed in a `const` struct that lives in flash.
 *
 * Conventions shared by all kernels:
 * - `in_offset` = -input zero point, `out_offset` = output zero point;
 * - per-channel requantization: out = clamp(MBQM(acc, mult[c], shift[c]) + out_offset);
 * - convolution and fully-connected biases are FOLDED: bias[c] already holds
 *   bias + in_offset * sum(filter[c]) over every tap, so inner loops multiply raw
 *   int8 values; padded taps read the input zero point (value 0 after offset),
 *   which keeps results identical to the reference that skips them.
 * With __ARM_FEATURE_DSP (Cortex-M4/M7/M33) the dot products use SMLAD on
 * pairs of sign-extended bytes; the portable loops are always compiled for
 * other targets and give identical results (integer sums do not depend on
 * order). */
#ifndef TF_KERNELS_H
#define TF_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Element-wise int8 ADD (TFLite quantized add with a 20-bit left shift). */
typedef struct {
    int32_t in1_offset, in2_offset, out_offset;
    int32_t in1_mult, in2_mult, out_mult;
    int32_t in1_shift, in2_shift, out_shift; /* <= 0: right shifts */
    int32_t left_shift;
    int32_t act_min, act_max;
} tf_add_params;

/* Field widths are as small as the values allow (windows up to 255, int8
 * offsets and bounds in int16): these structs sit in flash, one per layer. */
typedef struct {
    uint16_t batches, in_h, in_w, in_c, out_h, out_w, out_c;
    uint8_t k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_h, pad_w;
    int16_t in_offset, out_offset, act_min, act_max;
    /* Fused residual add (Conv2dAdd), or NULL: the conv result (int8, clamped to
     * act_min..act_max) is added to `skip` element by element; the output may be
     * the skip buffer itself. `conv_is_first` keeps the ADD's operand order. */
    const tf_add_params *add;
    uint8_t conv_is_first;
    /* Filter storage (see "Compressed filters" below): bits per packed weight (4 or
     * 2) for tf_conv2d_packed, block size (1 or 4) for tf_conv2d_sparse; 0 for int8. */
    uint8_t wbits, sparse_block;
    /* constants in flash: filter, folded bias, per-channel multiplier and shift */
    const int8_t *filter;
    const int32_t *bias;
    const int32_t *mult;
    const int8_t *shift;
} tf_conv_params;

typedef struct {
    uint16_t batches, in_h, in_w, in_c, out_h, out_w, out_c, depth_mult;
    uint8_t k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_h, pad_w;
    int16_t in_offset, out_offset, act_min, act_max;
    /* bits per packed weight (4 or 2) for tf_depthwise_conv2d_packed, else 0 */
    uint8_t wbits;
    /* constants in flash: filter, bias (not folded), per-channel multiplier and shift */
    const int8_t *filter;
    const int32_t *bias;
    const int32_t *mult;
    const int8_t *shift;
} tf_dw_params;

typedef struct {
    uint16_t batches, in_n, out_n;
    int32_t out_offset, act_min, act_max;
    /* 0: mult[0]/shift[0] for every output; 1: one per output (per-channel weights) */
    uint8_t per_channel;
    /* as in tf_conv_params: packed bits or sparse block size, 0 for int8 */
    uint8_t wbits, sparse_block;
    /* constants in flash: filter, folded bias, per-channel multiplier and shift */
    const int8_t *filter;
    const int32_t *bias;
    const int32_t *mult;
    const int8_t *shift;
} tf_fc_params;

typedef struct {
    uint16_t batches, in_h, in_w, c, out_h, out_w;
    uint16_t f_h, f_w, stride_h, stride_w, pad_h, pad_w;
    int32_t act_min, act_max;
} tf_pool_params;

/* Element-wise int8 MUL: clamp(out_offset + MBQM((a + in1_offset) * (b + in2_offset))). */
typedef struct {
    int32_t in1_offset, in2_offset, out_offset, mult, shift, act_min, act_max;
} tf_mul_params;

void tf_mul_s8(const tf_mul_params *p, const int8_t *a, const int8_t *b, int8_t *out, size_t n);

typedef struct {
    uint32_t rows;
    uint16_t depth;
    int32_t in_mult, in_left_shift, diff_min;
} tf_softmax_params;

/* im2col scratch bytes a convolution needs, dense, packed or sparse: 0 for a 1x1
 * without padding, except with block-1 sparse filters, which interleave four pixels'
 * inputs into a tile. */
size_t tf_conv2d_s8_scratch(const tf_conv_params *p);

/* Per-layer constants travel in the (flash) parameter struct, so a layer call
 * passes only activations: this keeps the generated call sequence small. */
void tf_conv2d_s8(const tf_conv_params *p, const int8_t *in, const int8_t *skip, int8_t *out,
                  int8_t *scratch);

/* Depthwise: bias is NOT folded (taps at the border are skipped, as in TFLite).
 * `out` may equal `in` (in-place plan) when depth_mult is 1; then `scratch` must
 * hold out_h * out_w bytes. */
void tf_depthwise_conv2d_s8(const tf_dw_params *p, const int8_t *in, int8_t *out, int8_t *scratch);

void tf_fully_connected_s8(const tf_fc_params *p, const int8_t *in, int8_t *out);

/* Compressed filters, executed in place from flash (no decoded copy in RAM):
 *
 * - packed (tf_*_packed, `wbits` 4 or 2): the filter's elements in memory order,
 *   two's complement. int4 is TFLite's INT4 layout (two per byte, element 2k in
 *   the low nibble); int2 is tinyforge's (four per byte, element 4k+j in bits
 *   2j..2j+1). Arithmetic is the int8 kernels' on the unpacked values.
 * - sparse (tf_*_sparse): one TFSR2 blob per filter, exactly as
 *   crates/kernels/src/sparse/format.rs (`encode_tfsr2`) writes it: a 4-byte header
 *   (layout 1 = row bitmaps, 2 = gap stream; block size 1 or 4; two zero bytes), then
 *   the body. Rows are output channels (conv, FC: the channel's weights in memory
 *   order; depthwise: the channel's KH*KW taps). Bitmap body: per row a bitmap of
 *   ceil(ceil(K / block) / 8) bytes (bit j, LSB first, set when block j holds a
 *   non-zero) then `block` int8 values per set bit. Gap body: u32 LE stored-block
 *   count, the stored blocks' values, then 4-bit gap codes (low nibble first) over
 *   all rows' block positions (g <= 14: skip g, store one; 15: skip 15). The kernels
 *   walk the blob in place, sequentially, once per pass (per 4 output pixels for
 *   conv, per sample for FC, per output pixel for depthwise); no table and no RAM
 *   copy. Layout and block come from the header (`sparse_block` mirrors it).
 *   Only stored blocks are multiplied. Results equal the dense kernels' (same
 *   int32 products; integer sums do not depend on order).
 * Biases are folded exactly as for the int8 kernels; `filter` points at the
 * encoded bytes. */
void tf_conv2d_packed(const tf_conv_params *p, const int8_t *in, const int8_t *skip, int8_t *out,
                      int8_t *scratch);
void tf_conv2d_sparse(const tf_conv_params *p, const int8_t *in, const int8_t *skip, int8_t *out,
                      int8_t *scratch);
void tf_depthwise_conv2d_packed(const tf_dw_params *p, const int8_t *in, int8_t *out);
/* Not in place (`out` must not alias `in`). */
void tf_depthwise_conv2d_sparse(const tf_dw_params *p, const int8_t *in, int8_t *out);
void tf_fully_connected_packed(const tf_fc_params *p, const int8_t *in, int8_t *out);
void tf_fully_connected_sparse(const tf_fc_params *p, const int8_t *in, int8_t *out);

void tf_avg_pool_s8(const tf_pool_params *p, const int8_t *in, int8_t *out);
void tf_max_pool_s8(const tf_pool_params *p, const int8_t *in, int8_t *out);

void tf_add_s8(const tf_add_params *p, const int8_t *a, const int8_t *b, int8_t *out, size_t n);

void tf_softmax_s8(const tf_softmax_params *p, const int8_t *in, int8_t *out);

/* MEAN over H and W: clamp(out_zp + MBQM(sum - in_zp * H*W, mult, shift)), with
 * 1 / (H*W) folded into mult/shift the way TFLite's reduce code does. */
typedef struct {
    uint16_t batches, h, w, c;
    int32_t in_zp, out_zp, mult, shift;
} tf_mean_params;

void tf_mean_hw_s8(const tf_mean_params *p, const int8_t *in, int8_t *out);

/* CONCATENATION: for each of `outer` slices, inner[i] bytes of every input i in
 * order (inputs share the output's quantization, as TFLite Micro requires). */
void tf_concat_s8(int n_inputs, const int8_t *const *inputs, const uint32_t *inner, uint32_t outer,
                  int8_t *out);

/* PAD of an NHWC int8 tensor: `before` / `after` elements per dimension, filled
 * with `value` (the zero point). */
typedef struct {
    uint16_t in[4], before[4], after[4];
    int8_t value;
} tf_pad_params;

void tf_pad_s8(const tf_pad_params *p, const int8_t *in, int8_t *out);

/* QUANTIZE float32 -> int8: clamp(round_half_away(x / scale) + zero_point), the
 * division in float as TFLite Micro does; NaN maps to the zero point. */
void tf_quantize_f32_s8(const float *in, int8_t *out, size_t n, float scale, int32_t zero_point);

/* DEQUANTIZE int8 -> float32 through the table of the 256 exact values. */
void tf_dequantize_s8_f32(const float table[256], const int8_t *in, float *out, size_t n);

/* Element-wise int8 map through a 256-entry table indexed by the input byte
 * (RELU, RELU6, LOGISTIC, TANH); `out` may equal `in`. */
void tf_lut_s8(const int8_t table[256], const int8_t *in, int8_t *out, size_t n);

/* Reshape / squeeze between two arena regions (they may overlap). */
void tf_copy(int8_t *dst, const int8_t *src, size_t n);

/* Fixed-point helpers, exposed for tests. */
int32_t tf_mbqm(int32_t x, int32_t mult, int32_t shift);
/* clamp(out_offset + MBQM(acc[i], mult, shift), act_min, act_max) for i < n, by the
 * kernels' own requantization path. */
void tf_requantize_s8(const int32_t *acc, size_t n, int8_t *out, int32_t mult, int32_t shift,
                      int32_t out_offset, int32_t act_min, int32_t act_max);

#ifdef __cplusplus
}
#endif
#endif
