#include "semihost.h"

enum {
    SYS_OPEN = 0x01, SYS_CLOSE = 0x02, SYS_WRITE0 = 0x04, SYS_WRITE = 0x05,
    SYS_READ = 0x06, SYS_EXIT_EXTENDED = 0x20,
};

static uint32_t sh_call(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void sh_puts(const char *s) { sh_call(SYS_WRITE0, s); }

void sh_put_u32(const char *key, uint32_t v)
{
    char buf[64];
    int n = 0;
    while (*key && n < 40) buf[n++] = *key++;
    buf[n++] = '=';
    char digits[10];
    int d = 0;
    do { digits[d++] = (char)('0' + v % 10u); v /= 10u; } while (v);
    while (d) buf[n++] = digits[--d];
    buf[n++] = '\n';
    buf[n] = 0;
    sh_puts(buf);
}

int sh_open(const char *path, int mode)
{
    size_t len = 0;
    while (path[len]) len++;
    uint32_t blk[3] = {(uint32_t)path, (uint32_t)mode, (uint32_t)len};
    return (int)sh_call(SYS_OPEN, blk);
}

size_t sh_read(int fd, void *buf, size_t len)
{
    uint32_t blk[3] = {(uint32_t)fd, (uint32_t)buf, (uint32_t)len};
    return len - sh_call(SYS_READ, blk); /* the call returns the bytes NOT read */
}

int sh_write(int fd, const void *buf, size_t len)
{
    uint32_t blk[3] = {(uint32_t)fd, (uint32_t)buf, (uint32_t)len};
    return (int)sh_call(SYS_WRITE, blk);
}

void sh_close(int fd)
{
    uint32_t blk[1] = {(uint32_t)fd};
    sh_call(SYS_CLOSE, blk);
}

void sh_exit(int status)
{
    /* ADP_Stopped_ApplicationExit with a status: QEMU exits with it */
    uint32_t blk[2] = {0x20026u, (uint32_t)status};
    sh_call(SYS_EXIT_EXTENDED, blk);
    for (;;) {
    }
}

__attribute__((noipa)) void bench_begin(void) { __asm volatile("" ::: "memory"); }
__attribute__((noipa)) void bench_end(void) { __asm volatile("" ::: "memory"); }
__attribute__((noipa)) void bench_layer(void) { __asm volatile("" ::: "memory"); }
