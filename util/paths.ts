/**
 * File path pieces for "/" and "\\" separators, without node:path, so that the modules a browser page bundles
 * (the data loader, the tokenizer through util/fs.ts) load there too.
 *
 * @module
 */

/** Index of the last separator in `path`, or -1. */
function lastSeparator(path: string): number {
  return Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
}

/**
 * The directory part of a file path: "." for a bare name, the root for a file in it.
 *
 * @param path A file path.
 * @returns Its directory.
 * @example
 * ```ts
 * import { directoryOf } from "./paths.ts";
 * if (directoryOf("data/x.bin") !== "data" || directoryOf("x.bin") !== "." || directoryOf("/x") !== "/") throw 0;
 * ```
 */
export function directoryOf(path: string): string {
  const cut = lastSeparator(path);
  return cut < 0 ? "." : cut === 0 ? path.slice(0, 1) : path.slice(0, cut);
}

/**
 * The file name part of a path.
 *
 * @param path A file path.
 * @returns What follows the last separator.
 * @example
 * ```ts
 * import { fileNameOf } from "./paths.ts";
 * if (fileNameOf("data/x_*.bin") !== "x_*.bin") throw new Error("the name");
 * ```
 */
export function fileNameOf(path: string): string {
  return path.slice(lastSeparator(path) + 1);
}

/**
 * A directory and a name joined with "/" (no doubled separator).
 *
 * @param dir A directory ("." stays out of the result).
 * @param name A file name.
 * @returns The path.
 * @example
 * ```ts
 * import { joinPath } from "./paths.ts";
 * if (joinPath("data/", "x.bin") !== "data/x.bin" || joinPath(".", "x.bin") !== "x.bin") throw 0;
 * ```
 */
export function joinPath(dir: string, name: string): string {
  if (dir === "." || dir === "") return name;
  return /[/\\]$/.test(dir) ? dir + name : `${dir}/${name}`;
}
