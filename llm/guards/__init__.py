"""What a shared app refuses before anything goes upstream: visitors' input (`limits`), and server lines
longer than any chunk this app reads (`bounded_http`); and, under that transport, the sockets it reads on
(`asyncio_network`)."""
