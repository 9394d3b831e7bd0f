/* Host driver for an emitted tinyforge C library: reads samples from stdin
 * (all inputs of a sample back to back), runs tf_invoke() on each, writes the
 * outputs to stdout. Used to check the portable C path against the firmware
 * and the Rust runtime. */
#include <stdio.h>

#include "tf_model.h"

int main(void)
{
    for (;;) {
        size_t got = fread(tf_input(0), 1, tf_input_bytes(0), stdin);
        if (got == 0) break;
        if (got != tf_input_bytes(0)) return 4;
        for (int i = 1; i < TF_NUM_INPUTS; i++)
            if (fread(tf_input(i), 1, tf_input_bytes(i), stdin) != tf_input_bytes(i)) return 4;
        tf_invoke();
        for (int i = 0; i < TF_NUM_OUTPUTS; i++)
            if (fwrite(tf_output(i), 1, tf_output_bytes(i), stdout) != tf_output_bytes(i)) return 5;
    }
    return 0;
}
