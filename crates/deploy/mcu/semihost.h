/* ARM semihosting calls used by the tinyforge test firmware: console text,
 * host file I/O (inputs in, outputs out) and the exit status. Also the empty
 * marker functions the instruction-counting QEMU plugin watches. */
#ifndef TF_SEMIHOST_H
#define TF_SEMIHOST_H
#include <stddef.h>
#include <stdint.h>

void sh_puts(const char *s);
void sh_put_u32(const char *key, uint32_t v);
/* Returns a host file handle, or -1. mode: 0 = "rb", 4 = "wb". */
int sh_open(const char *path, int mode);
/* Returns the number of bytes actually read. */
size_t sh_read(int fd, void *buf, size_t len);
/* Returns 0 when every byte was written. */
int sh_write(int fd, const void *buf, size_t len);
void sh_close(int fd);
void sh_exit(int status) __attribute__((noreturn));

/* Never inlined nor merged (noipa), empty: the plugin counts instructions from entering
 * bench_begin to entering bench_end, and splits the count at each bench_layer. */
void bench_begin(void);
void bench_end(void);
void bench_layer(void);
#endif
