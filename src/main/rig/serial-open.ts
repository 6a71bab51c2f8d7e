import { SerialPort } from "serialport";

/** A serial port at `baudRate`, 8N1, opened; rejects with the driver's error where it cannot be opened. */
export async function openSerialPort(path: string, baudRate: number): Promise<SerialPort> {
  const port = new SerialPort({ path, baudRate, dataBits: 8, stopBits: 1, parity: "none", autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  return port;
}
