/* The raw CreateProcess launcher of the Wine oracle (tests/test_wine_oracle.py).
 *
 * Reads lines from stdin, each the lower-case hex of a UTF-8 process command line, and
 * hands each line unchanged to CreateProcessW(NULL, line, ...), exactly as the local
 * transport's subprocess.Popen(str) does on Windows.  The child's stdout and stderr are
 * this process's stdout (so they arrive in order), its stdin is NUL.  After the child
 * exits it prints "==exit <code>" (or "==createprocess-failed <error>").  Ends at EOF.
 */
#include <windows.h>
#include <stdio.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

int main(void)
{
    static char hex[65536], utf8[32768];
    static wchar_t line[32768];
    HANDLE in = GetStdHandle(STD_INPUT_HANDLE);
    HANDLE out = GetStdHandle(STD_OUTPUT_HANDLE);
    SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
    HANDLE nul = CreateFileW(L"NUL", GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE, &sa,
                             OPEN_EXISTING, 0, NULL);
    for (;;) {
        DWORD got = 0, n;
        char c = 0;
        while (got < sizeof hex - 1 && ReadFile(in, &c, 1, &n, NULL) && n == 1 && c != '\n')
            hex[got++] = c;
        if (got == 0 && c != '\n')
            return 0; /* EOF */
        int k = 0;
        for (DWORD i = 0; i + 1 < got; i += 2)
            utf8[k++] = (char)(hexval(hex[i]) * 16 + hexval(hex[i + 1]));
        utf8[k] = 0;
        MultiByteToWideChar(CP_UTF8, 0, utf8, -1, line, 32768);
        STARTUPINFOW si = {sizeof si};
        si.dwFlags = STARTF_USESTDHANDLES;
        si.hStdInput = nul;
        si.hStdOutput = out;
        si.hStdError = out;
        PROCESS_INFORMATION pi;
        char status[64];
        if (CreateProcessW(NULL, line, NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi)) {
            DWORD code = 0;
            WaitForSingleObject(pi.hProcess, INFINITE);
            GetExitCodeProcess(pi.hProcess, &code);
            CloseHandle(pi.hThread);
            CloseHandle(pi.hProcess);
            snprintf(status, sizeof status, "\n==exit %lu\n", (unsigned long)code);
        } else {
            snprintf(status, sizeof status, "\n==createprocess-failed %lu\n",
                     (unsigned long)GetLastError());
        }
        DWORD written;
        WriteFile(out, status, (DWORD)strlen(status), &written, NULL);
    }
}
