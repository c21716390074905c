/* Shared by the fuzz harnesses (tests/fuzz/fuzz_*.c): each defines
 * LLVMFuzzerTestOneInput for one reader of bytes from outside. Built with
 * clang's libFuzzer (scripts/fuzz.sh) they search for inputs that crash;
 * built with fuzz_main.c they replay their corpus (seeds and every input a
 * fuzzer once found) as an ordinary test. */
#ifndef MOECL_FUZZ_H
#define MOECL_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A directory of this process's own for the files the readers open. */
const char *fuzz_dir(void);
/* Writes the input to fuzz_dir()/name; returns the path (static storage). */
const char *fuzz_write(const char *name, const uint8_t *data, size_t size);
/* The input as a NUL-terminated string (malloc'd; free it). */
char *fuzz_text(const uint8_t *data, size_t size);

#endif
