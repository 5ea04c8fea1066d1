/** Loopback port helpers shared by the demo and the tests. */
import net from 'node:net';

/** Ports handed out lately: the kernel may offer a just-closed port again, and two callers must not get the same one. */
const recent: number[] = [];

function kernelPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address() as net.AddressInfo;
      s.close(() => resolve(a.port));
    });
  });
}

/** A port that was free on 127.0.0.1 a moment ago (the kernel picked it), not one this process was given lately. */
export async function freePort(): Promise<number> {
  for (let i = 0; ; i++) {
    const port = await kernelPort();
    if (!recent.includes(port) || i >= 20) {
      recent.push(port);
      if (recent.length > 64) recent.shift();
      return port;
    }
  }
}

/** Whether `port` can be bound on 127.0.0.1 right now. */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}
