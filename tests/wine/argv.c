/* The argv printer of the Wine oracle (tests/test_wine_oracle.py).
 *
 * Prints the argv the C runtime built from this process's command line, one argument per
 * line: "A:" and the lower-case hex of its UTF-8 bytes, so that any character survives.
 * Built by the tests with mingw-w64 (-municode: wmain gets the wide argv of msvcrt's
 * __wgetmainargs, i.e. Wine's C runtime under Wine).
 */
#include <windows.h>

int wmain(int argc, wchar_t **argv)
{
    static const char digits[] = "0123456789abcdef";
    static char utf8[32768], hex[65536 + 4];
    HANDLE out = GetStdHandle(STD_OUTPUT_HANDLE);
    DWORD written;
    for (int i = 0; i < argc; i++) {
        int len = WideCharToMultiByte(CP_UTF8, 0, argv[i], -1, utf8, sizeof utf8, NULL, NULL);
        int k = 0;
        hex[k++] = 'A';
        hex[k++] = ':';
        for (int j = 0; j + 1 < len; j++) {
            hex[k++] = digits[(unsigned char)utf8[j] >> 4];
            hex[k++] = digits[(unsigned char)utf8[j] & 15];
        }
        hex[k++] = '\n';
        WriteFile(out, hex, k, &written, NULL);
    }
    return 0;
}
