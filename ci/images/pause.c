/*
 * Sandbox ("pause") container process: holds the pod's namespaces, reaps orphaned children when it
 * is PID 1, and exits cleanly on SIGINT/SIGTERM. Same behaviour as Kubernetes' build/pause/linux/pause.c,
 * rewritten here so the image can be built from a C compiler alone.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define VERSION "3.10"

static void on_exit_signal(int sig) {
    (void)sig;
    _exit(0);
}

static void on_child(int sig) {
    (void)sig;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0) {
            printf("pause.c %s\n", VERSION);
            return 0;
        }
    }
    if (getpid() != 1) {
        fprintf(stderr, "Warning: pause should be the first process\n");
    }

    struct sigaction exit_action = {.sa_handler = on_exit_signal};
    struct sigaction child_action = {.sa_handler = on_child, .sa_flags = SA_NOCLDSTOP};
    if (sigaction(SIGINT, &exit_action, NULL) < 0 || sigaction(SIGTERM, &exit_action, NULL) < 0 ||
        sigaction(SIGCHLD, &child_action, NULL) < 0) {
        perror("sigaction");
        return 1;
    }

    for (;;) {
        pause();
    }
    fprintf(stderr, "Error: infinite loop terminated\n");
    return 42;
}
