import { customAlphabet } from 'nanoid';

// No 0/o, 1/l/i: ids are read off a screen and typed into a chat command.
const typableAlphabet = '23456789abcdefghjkmnpqrstuvwxyz';
const randomPart = customAlphabet(typableAlphabet, 6);

/** A short, typable task id such as `t_7k2m9q`. */
export function newTaskId(): string {
  return `t_${randomPart()}`;
}

export const taskIdPattern = /^t_[a-z0-9]{4,16}$/;
