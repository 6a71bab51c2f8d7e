import { useEffect, useState } from "react";
import type { CortexloopApi } from "../main/api/contract.js";
import { useCortexloop } from "./api.js";

// Stimuli are immutable (stored by hash), so one fetch per hash serves every row that shows it.
const cache = new Map<string, Promise<string | null>>();

export function loadThumb(api: CortexloopApi, sha256: string): Promise<string | null> {
  let p = cache.get(sha256);
  if (p === undefined) {
    p = api.stimulus({ sha256 }).then(
      (r) => (r.ok ? r.value.dataUrl : null),
      () => null,
    );
    cache.set(sha256, p);
  }
  return p;
}

export function Thumb({ sha256, size = 40 }: { sha256: string; size?: number }) {
  const api = useCortexloop();
  const [src, setSrc] = useState<string | null | undefined>(undefined);
  useEffect(() => {
    let current = true;
    loadThumb(api, sha256).then((url) => {
      if (current) setSrc(url);
    });
    return () => {
      current = false;
    };
  }, [api, sha256]);
  if (src === undefined) return <span className="thumb placeholder" style={{ width: size, height: size }} />;
  if (src === null)
    return (
      <span className="thumb missing" style={{ width: size, height: size }} title="image not in this database">
        ?
      </span>
    );
  return (
    <img
      className="thumb"
      src={src}
      width={size}
      height={size}
      alt={`stimulus ${sha256.slice(0, 8)}`}
      data-testid="stimulus-thumb"
    />
  );
}
