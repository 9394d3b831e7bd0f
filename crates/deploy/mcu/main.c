/* Test firmware around an emitted tinyforge model: reads samples from the
 * host file tf_in.bin (inputs of one sample back to back, samples back to back),
 * runs one inference per sample between the bench markers, appends the
 * outputs to tf_out.bin, then reports the sample count and the stack
 * high-water mark over semihosting. */
#include "semihost.h"
#include "tf_model.h"

uint32_t stack_high_water(void);

int main(void)
{
    int in = sh_open("tf_in.bin", 0);
    if (in < 0) {
        sh_puts("error=cannot open tf_in.bin\n");
        return 3;
    }
    int out = sh_open("tf_out.bin", 4);
    if (out < 0) {
        sh_puts("error=cannot open tf_out.bin\n");
        return 3;
    }
    uint32_t samples = 0;
    for (;;) {
        size_t got = sh_read(in, tf_input(0), tf_input_bytes(0));
        if (got == 0) break;
        if (got != tf_input_bytes(0)) {
            sh_puts("error=truncated input\n");
            return 4;
        }
        for (int i = 1; i < TF_NUM_INPUTS; i++) {
            if (sh_read(in, tf_input(i), tf_input_bytes(i)) != tf_input_bytes(i)) {
                sh_puts("error=truncated input\n");
                return 4;
            }
        }
        bench_begin();
        tf_invoke();
        bench_end();
        for (int i = 0; i < TF_NUM_OUTPUTS; i++) {
            if (sh_write(out, tf_output(i), tf_output_bytes(i)) != 0) {
                sh_puts("error=cannot write tf_out.bin\n");
                return 5;
            }
        }
        samples++;
    }
    sh_close(in);
    sh_close(out);
    sh_put_u32("samples", samples);
    sh_put_u32("stack_bytes", stack_high_water());
    return 0;
}
