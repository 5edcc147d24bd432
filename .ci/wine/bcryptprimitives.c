/*
 * bcryptprimitives.dll shim for running Go test binaries under wine.
 *
 * Since Go 1.22 the Windows runtime gets its random numbers from
 * ProcessPrng in bcryptprimitives.dll (loaded from System32 at start-up);
 * wine 8 (Debian bookworm) has no such DLL, so every Go program dies with
 * "fatal error: bcryptprimitives.dll not found". This DLL exports
 * ProcessPrng on top of RtlGenRandom (advapi32!SystemFunction036), which
 * wine implements. Test use only: it is never shipped.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG n = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, n))
            return FALSE;
        data += n;
        length -= n;
    }
    return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    (void)instance;
    (void)reason;
    (void)reserved;
    return TRUE;
}
