/* mhd_bare.c - the HTTP baseline for bench/http.sh: a libmicrohttpd server that answers every
 * request with the bytes migrated answers GET /v1/health with, and does nothing else. Same
 * library, same thread mode (internal thread pool, epoll), response queued on the second
 * handler call as in migrated. Usage: mhd_bare PORT [THREADS]. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdlib.h>

static const char body[] = "{\"status\":\"ok\",\"checks\":[{\"name\":\"process\",\"status\":\"ok\"}]}\n";
static struct MHD_Response *response;

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
			      const char *version, const char *upload, size_t *upload_size, void **state)
{
	static int seen;
	(void)cls, (void)url, (void)method, (void)version, (void)upload, (void)upload_size;
	if (!*state) {
		*state = &seen;
		return MHD_YES;
	}
	return MHD_queue_response(conn, MHD_HTTP_OK, response);
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	sigset_t stop;
	int sig;

	if (argc < 2)
		return 2;
	sa.sin_port = htons((unsigned short)atoi(argv[1]));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	response = MHD_create_response_from_buffer(sizeof body - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(response, "Content-Type", "application/json");
	MHD_add_response_header(response, "Cache-Control", "no-store");
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	struct MHD_Daemon *d =
		MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, NULL, NULL, answer, NULL,
				 MHD_OPTION_THREAD_POOL_SIZE, (unsigned)(argc > 2 ? atoi(argv[2]) : 2),
				 MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_END);
	if (!d)
		return 1;
	sigwait(&stop, &sig);
	MHD_stop_daemon(d);
	MHD_destroy_response(response);
	return 0;
}
