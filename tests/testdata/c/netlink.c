/*
 * What programs learn about the network through rtnetlink(7) and the
 * interface ioctls: glibc's getifaddrs, if_nameindex, if_nametoindex and
 * getaddrinfo with AI_ADDRCONFIG, and a hand-made NETLINK_ROUTE dialogue
 * (port ids, sequence numbers, multipart dumps ending in NLMSG_DONE,
 * NLMSG_ERROR and acknowledgements, MSG_PEEK|MSG_TRUNC sizing as iproute2
 * does). Meant to run in a network namespace that has only lo (the
 * sandbox, or natively `unshare -n` after `ip link set lo up`).
 */
#include "veiltest.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netdb.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

static void glibc(void)
{
	struct ifaddrs *ifa;
	SYS(getifaddrs(&ifa));
	for (struct ifaddrs *p = ifa; p; p = p->ifa_next) {
		char addr[INET6_ADDRSTRLEN] = "-";
		int fam = p->ifa_addr ? p->ifa_addr->sa_family : -1;
		if (fam == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)p->ifa_addr)->sin_addr, addr, sizeof addr);
		else if (fam == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)p->ifa_addr)->sin6_addr, addr, sizeof addr);
		printf("getifaddrs: %s family %d flags %#x addr %s\n", p->ifa_name, fam, p->ifa_flags, addr);
	}
	freeifaddrs(ifa);
	struct if_nameindex *ni = if_nameindex();
	CHECK(ni != NULL);
	for (struct if_nameindex *p = ni; p->if_index; p++)
		printf("if_nameindex: %u %s\n", p->if_index, p->if_name);
	if_freenameindex(ni);
	printf("if_nametoindex(lo) %u, (nope) %u\n", if_nametoindex("lo"), if_nametoindex("nope"));
	char name[IF_NAMESIZE];
	printf("if_indextoname(1) %s\n", if_indextoname(1, name) ? name : "NULL");

	int s = SYS(socket(AF_UNIX, SOCK_DGRAM, 0));
	struct ifreq ifr = {0};
	strcpy(ifr.ifr_name, "lo");
	SYS(ioctl(s, SIOCGIFFLAGS, &ifr));
	printf("SIOCGIFFLAGS %#x\n", ifr.ifr_flags & 0xffff);
	SYS(ioctl(s, SIOCGIFMTU, &ifr));
	printf("SIOCGIFMTU %d\n", ifr.ifr_mtu);
	SYS(ioctl(s, SIOCGIFINDEX, &ifr));
	printf("SIOCGIFINDEX %d\n", ifr.ifr_ifindex);
	struct ifconf ifc = {0};
	SYS(ioctl(s, SIOCGIFCONF, &ifc));
	printf("SIOCGIFCONF length %d\n", ifc.ifc_len);
	close(s);

	struct addrinfo hints = {0}, *res;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG | AI_NUMERICHOST;
	int e = getaddrinfo("127.0.0.1", "80", &hints, &res);
	printf("getaddrinfo AI_ADDRCONFIG 127.0.0.1: %s\n", e ? gai_strerror(e) : "ok");
	if (!e)
		freeaddrinfo(res);
}

static int nl;
static unsigned seqno = 100;

static void request(int type, int flags, const void *body, size_t len)
{
	char buf[256] __attribute__((aligned(4))) = {0};
	struct nlmsghdr *h = (struct nlmsghdr *)buf;
	h->nlmsg_len = NLMSG_LENGTH(len);
	h->nlmsg_type = type;
	h->nlmsg_flags = flags;
	h->nlmsg_seq = ++seqno;
	memcpy(NLMSG_DATA(h), body, len);
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	SYS(sendto(nl, buf, h->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel));
}

/* replies reads datagrams until NLMSG_DONE or NLMSG_ERROR (or just one,
 * for the answer to a query of one object) and prints what each message
 * is, as iproute2 reads them (peeking for the size first). How the
 * messages are packed in datagrams differs between kernel versions and
 * is not shown. */
static void replies(const char *what, unsigned port, int single)
{
	for (;;) {
		ssize_t size = SYS(recv(nl, NULL, 0, MSG_PEEK | MSG_TRUNC));
		char *buf = malloc(size);
		struct sockaddr_nl from;
		socklen_t fl = sizeof from;
		ssize_t n = SYS(recvfrom(nl, buf, size, 0, (struct sockaddr *)&from, &fl));
		CHECK(n == size);
		int types[64], count = 0, last = 0;
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
			CHECK(h->nlmsg_seq == seqno && h->nlmsg_pid == port);
			if (count < 64)
				types[count] = h->nlmsg_type;
			count++;
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *err = NLMSG_DATA(h);
				printf("%s: NLMSG_ERROR %s (%d), request type %d, capped %d, len %u\n", what,
				       err->error ? strerror(-err->error) : "ack", err->error, err->msg.nlmsg_type,
				       (h->nlmsg_flags & NLM_F_CAPPED) != 0, h->nlmsg_len);
				last = 1;
			} else if (h->nlmsg_type == NLMSG_DONE) {
				printf("%s: NLMSG_DONE multi %d\n", what, (h->nlmsg_flags & NLM_F_MULTI) != 0);
				last = 1;
			} else if (h->nlmsg_type == RTM_NEWLINK) {
				struct ifinfomsg *ifi = NLMSG_DATA(h);
				printf("%s: RTM_NEWLINK index %d type %d flags %#x multi %d\n", what, ifi->ifi_index,
				       ifi->ifi_type, ifi->ifi_flags, (h->nlmsg_flags & NLM_F_MULTI) != 0);
			} else if (h->nlmsg_type == RTM_NEWADDR) {
				struct ifaddrmsg *ifa = NLMSG_DATA(h);
				printf("%s: RTM_NEWADDR family %d prefix %d scope %d index %d\n", what, ifa->ifa_family,
				       ifa->ifa_prefixlen, ifa->ifa_scope, ifa->ifa_index);
			} else if (h->nlmsg_type == RTM_NEWROUTE) {
				struct rtmsg *rt = NLMSG_DATA(h);
				printf("%s: RTM_NEWROUTE family %d dst_len %d table %d type %d\n", what, rt->rtm_family,
				       rt->rtm_dst_len, rt->rtm_table, rt->rtm_type);
			} else {
				printf("%s: type %d\n", what, h->nlmsg_type);
			}
		}
		(void)types;
		CHECK(from.nl_pid == 0 && fl == sizeof from);
		free(buf);
		if (last || single)
			return;
	}
}

static void dialogue(void)
{
	nl = SYS(socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
	struct sockaddr_nl me = {.nl_family = AF_NETLINK};
	SYS(bind(nl, (struct sockaddr *)&me, sizeof me));
	socklen_t ml = sizeof me;
	SYS(getsockname(nl, (struct sockaddr *)&me, &ml));
	printf("bound: len %u, port is the pid %d\n", ml, me.nl_pid == (unsigned)getpid());
	/* Replies come from the kernel, port 0. */
	unsigned port = me.nl_pid;
	int second = SYS(socket(AF_NETLINK, SOCK_DGRAM, NETLINK_ROUTE));
	struct sockaddr_nl other = {.nl_family = AF_NETLINK};
	SYS(bind(second, (struct sockaddr *)&other, sizeof other));
	ml = sizeof other;
	SYS(getsockname(second, (struct sockaddr *)&other, &ml));
	printf("second socket: port differs %d\n", other.nl_pid != port);
	struct sockaddr_nl taken = {.nl_family = AF_NETLINK, .nl_pid = port};
	int third = SYS(socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE));
	errno = 0;
	int r = bind(third, (struct sockaddr *)&taken, sizeof taken);
	printf("bind a taken port: %d %s\n", r, errno == EADDRINUSE ? "EADDRINUSE" : strerror(errno));
	close(third);
	close(second);

	struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
	request(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, &ifi, sizeof ifi);
	replies("links", port, 0);
	struct ifaddrmsg ifa = {.ifa_family = AF_UNSPEC};
	request(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, &ifa, sizeof ifa);
	replies("addrs", port, 0);
	ifa.ifa_family = AF_INET6;
	request(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, &ifa, sizeof ifa);
	replies("inet6 addrs", port, 0);
	struct rtmsg rt = {.rtm_family = AF_INET};
	request(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, &rt, sizeof rt);
	replies("inet routes", port, 0);
	ifi.ifi_index = 1;
	request(RTM_GETLINK, NLM_F_REQUEST, &ifi, sizeof ifi);
	replies("link 1", port, 1);
	ifi.ifi_index = 77;
	request(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK, &ifi, sizeof ifi);
	replies("link 77", port, 0);
	request(RTM_GETLINK, NLM_F_ACK, &ifi, sizeof ifi);
	replies("not a request", port, 0);
	request(0x7f, NLM_F_REQUEST, &ifi, sizeof ifi);
	replies("unknown type", port, 0);
	int one = 1;
	SYS(setsockopt(nl, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one));
	request(RTM_GETLINK, NLM_F_REQUEST, &ifi, sizeof ifi);
	replies("link 77 capped", port, 0);
	errno = 0;
	ssize_t left = recv(nl, &one, sizeof one, MSG_DONTWAIT);
	printf("nothing left: %zd %s\n", left, errno == EAGAIN ? "EAGAIN" : "?");
	close(nl);
	errno = 0;
	r = socket(AF_NETLINK, SOCK_STREAM, NETLINK_ROUTE);
	printf("SOCK_STREAM netlink: %d %s\n", r, errno == ESOCKTNOSUPPORT ? "ESOCKTNOSUPPORT" : strerror(errno));
}

int main(void)
{
	veil_init("netlink");
	glibc();
	dialogue();
	printf("netlink: ok\n");
	return 0;
}
