/* Cortex-M4F reset path for the tinyforge test firmware (QEMU mps2-an386).
 * Order matters: the FPU is enabled before any code that may touch s-registers,
 * .data/.bss are set up before main, and the unused stack is painted with a
 * known word so the harness can measure the deepest stack use afterwards. */
#include <stdint.h>
#include "semihost.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _sstack, _estack;
extern int main(void);

#define STACK_PAINT 0xC5A5C5A5u

void Reset_Handler(void) __attribute__((noreturn, naked));
void tf_reset_c(void) __attribute__((noreturn, used));
static void fault_handler(void) { sh_exit(0x7f); }

/* Naked so no frame is pushed before the stack is painted. */
void Reset_Handler(void)
{
    __asm volatile("ldr r0, =_estack\n mov sp, r0\n b tf_reset_c\n");
}

void tf_reset_c(void)
{
#if defined(__ARM_FP)
    *(volatile uint32_t *)0xE000ED88 |= (0xFu << 20); /* CPACR: CP10/CP11 full access */
    __asm volatile("dsb\n isb");
#endif
    uint32_t *src = &_sidata, *dst = &_sdata;
    while (dst < &_edata) *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss;) *dst++ = 0;

    uint32_t sp;
    __asm volatile("mov %0, sp" : "=r"(sp));
    /* leave a margin below the current frame */
    for (dst = &_sstack; (uint32_t)dst < sp - 64u;) *dst++ = STACK_PAINT;
    sh_exit(main());
}

uint32_t stack_high_water(void)
{
    const uint32_t *p = &_sstack;
    while (p < &_estack && *p == STACK_PAINT) p++;
    return (uint32_t)((const uint8_t *)&_estack - (const uint8_t *)p);
}

__attribute__((section(".isr_vector"), used))
void (*const tf_vectors[16])(void) = {
    (void (*)(void))(&_estack), Reset_Handler,
    fault_handler, /* NMI */
    fault_handler, /* HardFault */
    fault_handler, /* MemManage */
    fault_handler, /* BusFault */
    fault_handler, /* UsageFault */
    0, 0, 0, 0,
    fault_handler, /* SVCall */
    fault_handler, /* DebugMon */
    0,
    fault_handler, /* PendSV */
    fault_handler, /* SysTick */
};
