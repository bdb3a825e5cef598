#!/bin/sh
# Rebuilds the 32-bit test programs with MinGW-w64 (apt-get install gcc-mingw-w64-i686),
# freestanding and linked against ntdll only. The .exe files are committed, so the tests
# need no cross compiler.
set -e
cd "$(dirname "$0")"
CC=${CC:-i686-w64-mingw32-gcc}
CFLAGS="-O1 -nostdlib -ffreestanding -fno-stack-protector -mno-stack-arg-probe -fno-asynchronous-unwind-tables -Wall -Wno-unused-function"
LDFLAGS="-Wl,--no-insert-timestamp -Wl,--entry,_start -Wl,--subsystem,console -Wl,--disable-dynamicbase -Wl,--disable-reloc-section -s"
for p in hello files memory seh events info crash args heap bigmem rtlmem; do
    $CC $CFLAGS -o $p.exe $p.c $LDFLAGS -lntdll -lgcc
done
# The compiled-code benchmark, at -O2 like release builds of real programs; compute.out
# is what the same kernels print compiled for the host: cc -O2 -o /tmp/compute_host
# compute_host.c && /tmp/compute_host > compute.out
$CC $(echo "$CFLAGS" | sed 's/-O1/-O2/') -o compute.exe compute.c $LDFLAGS -lntdll -lgcc
# A DLL with exports by name, by ordinal and a forwarder, and a program that uses it.
$CC $CFLAGS -shared -o adder.dll adder.c adder.def -Wl,--no-insert-timestamp -Wl,--kill-at -Wl,--entry,_DllMain@12 -Wl,--subsystem,console -Wl,--disable-dynamicbase -s -lntdll -lgcc
${CC%gcc}dlltool -d adder-imp.def -l libadder.a -D adder.dll -k
$CC $CFLAGS -o useadder.exe useadder.c $LDFLAGS -L. -ladder -lntdll -lgcc
rm -f libadder.a
# A DLL for interop tests: all calling conventions, 64-bit and floating-point values,
# strings, a struct, callbacks, faults; exports by name and one by ordinal only.
$CC $CFLAGS -shared -o interop.dll interop.c interop.def -Wl,--no-insert-timestamp -Wl,--kill-at -Wl,--entry,_DllMain@12 -Wl,--subsystem,console -Wl,--disable-dynamicbase -s -lntdll -lgcc
