/* probe-idle.exe: what a long-running probe container runs (images.toml, idle_command).
 *
 * It ships in the probe image, so a container idles on a program of its own rootfs, never on
 * an assumption about the host's or the utility VM's System32 (issue 12, finding 7).  It
 * only sleeps: no network (a UVM has none), no console input, no signals from outside.
 *
 *   probe-idle.exe SECONDS [LABEL]   sleep SECONDS (1-4294967), then exit 0; ending the
 *                                    container (crictl stop) ends it sooner.  LABEL is
 *                                    ignored: it makes each container's process tell-apart
 *                                    in a process list.
 *   probe-idle.exe /?                print this usage and exit 0 (the build's smoke check).
 *
 * Built by images/render.py with mingw-w64 (x86_64-w64-mingw32-gcc), without a time stamp,
 * so the same source gives the same bytes.
 */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    char *end = NULL;
    unsigned long seconds = argc > 1 ? strtoul(argv[1], &end, 10) : 0;
    if (argc < 2 || end == argv[1] || *end != '\0' || seconds < 1 || seconds > 4294967UL) {
        puts("usage: probe-idle.exe SECONDS [LABEL]   (sleeps, then exits 0)");
        return argc > 1 && strcmp(argv[1], "/?") == 0 ? 0 : 2;
    }
    Sleep((DWORD)(seconds * 1000UL));
    return 0;
}
