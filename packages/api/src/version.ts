/** This client's version, as the device header and an agent's check-in carry it. */
export const VERSION = '0.1.0';
